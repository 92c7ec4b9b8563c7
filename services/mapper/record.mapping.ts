import type { TargetCapabilities } from '../../connectors/sdk/contract.ts';
import type {
  Agent,
  EntityName,
  EntityTypes,
  Ticket,
  TicketPriority,
  TicketStatus,
  TicketType,
} from '../../schemas/canonical.ts';

/** The migration's rules as the mapper needs them. Pure data: no clients, no clock. */
export interface MappingRules {
  capabilities: TargetCapabilities;
  skipAttachments: boolean;
  statusMap: Partial<Record<TicketStatus, TicketStatus>>;
  priorityMap: Partial<Record<TicketPriority, TicketPriority>>;
  typeMap: Partial<Record<TicketType, TicketType>>;
}

export type MapResult<E extends EntityName> =
  | { kind: 'planned'; record: EntityTypes[E]; notes: string[] }
  | { kind: 'filtered'; rule: string };

/** Where a target lacks a status, the nearest one it has, in order of preference. */
const STATUS_FALLBACKS: Record<TicketStatus, TicketStatus[]> = {
  new: ['open', 'pending'],
  open: ['new', 'pending'],
  pending: ['hold', 'open'],
  hold: ['pending', 'open'],
  solved: ['closed', 'open'],
  closed: ['solved', 'open'],
};
const PRIORITY_FALLBACKS: Record<TicketPriority, TicketPriority[]> = {
  low: ['normal'],
  normal: ['low', 'high'],
  high: ['urgent', 'normal'],
  urgent: ['high', 'normal'],
};

function nearest<T extends string>(value: T, supported: readonly T[], fallbacks: Record<T, T[]>): T | null {
  if (supported.includes(value)) return value;
  return fallbacks[value].find((v) => supported.includes(v)) ?? null;
}

export function mapStatus(status: TicketStatus, rules: MappingRules): TicketStatus {
  const wanted = rules.statusMap[status] ?? status;
  return nearest(wanted, rules.capabilities.ticketStatuses, STATUS_FALLBACKS) ?? rules.capabilities.ticketStatuses[0];
}

export function mapPriority(priority: TicketPriority | null, rules: MappingRules): TicketPriority | null {
  if (priority === null) return null;
  const wanted = rules.priorityMap[priority] ?? priority;
  return nearest(wanted, rules.capabilities.ticketPriorities, PRIORITY_FALLBACKS);
}

export function mapType(type: TicketType | null, rules: MappingRules): TicketType | null {
  if (type === null) return null;
  const wanted = rules.typeMap[type] ?? type;
  return rules.capabilities.ticketTypes.includes(wanted) ? wanted : null;
}

export function mapTicket(ticket: Ticket, rules: MappingRules): MapResult<'ticket'> {
  const notes: string[] = [];
  const status = mapStatus(ticket.status, rules);
  if (status !== ticket.status) notes.push(`status ${ticket.status} → ${status}`);
  const priority = mapPriority(ticket.priority, rules);
  if (priority !== ticket.priority) notes.push(`priority ${ticket.priority} → ${priority}`);
  const type = mapType(ticket.type, rules);
  if (type !== ticket.type) notes.push(`type ${ticket.type} → ${type}`);
  const comments = rules.skipAttachments ? ticket.comments.map((c) => ({ ...c, attachments: [] })) : ticket.comments;
  if (rules.skipAttachments && ticket.comments.some((c) => c.attachments.length > 0)) notes.push('attachments skipped by option');
  return { kind: 'planned', record: { ...ticket, status, priority, type, comments }, notes };
}

/** Deactivated and deleted agents are not created; what they did goes to the default agent. */
export function mapAgent(agent: Agent): MapResult<'agent'> {
  if (agent.deleted) return { kind: 'filtered', rule: 'deleted-agent→default-agent' };
  if (!agent.active) return { kind: 'filtered', rule: 'inactive-agent→default-agent' };
  return { kind: 'planned', record: agent, notes: [] };
}

/** Maps one canonical record under the migration's rules. */
export function mapRecord<E extends EntityName>(entity: E, record: EntityTypes[E], rules: MappingRules): MapResult<E> {
  if (!rules.capabilities.entities.includes(entity)) return { kind: 'filtered', rule: `target-has-no-${entity}` };
  switch (entity) {
    case 'ticket':
      return mapTicket(record as Ticket, rules) as MapResult<E>;
    case 'agent':
      return mapAgent(record as Agent) as MapResult<E>;
    default:
      return { kind: 'planned', record, notes: [] };
  }
}
