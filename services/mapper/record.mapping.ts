import { megabytes } from '../../connectors/sdk/attachment-overflow.ts';
import type {
  Agent,
  EntityName,
  Comment,
  EntityTypes,
  Ticket,
  Group,
  KbArticle,
  TicketField,
  TicketPriority,
  TicketStatus,
  TicketType,
} from '../../schemas/canonical.ts';
import type { MapResult, MappingRules } from './rules.ts';
import { inlineAsAttachments, linkContentIds, mapCustomFieldValues, mapGroup, mapTicketField, sanitizeArticle, sanitizeComment, splitAttachments, ticketFilter } from './wizard.mapping.ts';
import { transformNote } from './transforms.ts';
import { withOriginalDate, withOriginalHeader } from './originals.mapping.ts';

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

/** A status by the source's own name (`sourceStatus`) first, then by its canonical one. */
export function mapStatus(status: TicketStatus, rules: MappingRules, sourceStatus?: string | null): TicketStatus {
  const own = sourceStatus && Object.hasOwn(rules.statusMap, sourceStatus) ? rules.statusMap[sourceStatus] : undefined;
  const wanted = own ?? (Object.hasOwn(rules.statusMap, status) ? rules.statusMap[status] : undefined) ?? status;
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
  const filteredBy = ticketFilter(ticket, rules.filters);
  if (filteredBy) return { kind: 'filtered', rule: filteredBy };
  const notes: string[] = [];
  const status = mapStatus(ticket.status, rules, ticket.sourceStatus);
  const ownMapped = ticket.sourceStatus != null && Object.hasOwn(rules.statusMap, ticket.sourceStatus);
  if (ticket.closedByInactivity && !ownMapped) {
    notes.push(transformNote('status-by-inactivity', `status "${ticket.sourceStatus}" is inactive (done) at the source → ${status}`));
  }
  if (status !== ticket.status) {
    const own = ticket.sourceStatus && ticket.sourceStatus !== ticket.status ? ` ("${ticket.sourceStatus}")` : '';
    notes.push(transformNote('status-mapped', `status ${ticket.status}${own} → ${status}`));
  }
  const priority = mapPriority(ticket.priority, rules);
  if (priority !== ticket.priority) notes.push(transformNote('priority-mapped', `priority ${ticket.priority} → ${priority}`));
  const type = mapType(ticket.type, rules);
  if (type !== ticket.type) notes.push(transformNote('type-mapped', `type ${ticket.type} → ${type}`));
  // Every body passes here on its way to any target: sanitized once, before images are re-linked.
  let comments = ticket.comments.map((c) => sanitizeComment(linkContentIds(c), notes));
  if (rules.skipAttachments) comments = comments.map((c) => ({ ...c, attachments: [] }));
  if (rules.skipAttachments && ticket.comments.some((c) => c.attachments.length > 0)) notes.push(transformNote('attachments-skipped', 'attachments skipped by option'));
  const inlineOff = rules.inlineImagesAsAttachments || rules.capabilities.inlineImages === false;
  if (!rules.skipAttachments) comments = comments.map((c) => inlineAsAttachments(c, notes, inlineOff));
  const perComment = rules.capabilities.attachmentBytesPerComment;
  if (perComment && !rules.skipAttachments) comments = comments.flatMap((c) => splitAttachments(c, perComment, notes));
  const perTicket = rules.capabilities.attachmentBytesPerTicket;
  if (perTicket && !rules.skipAttachments) noteOverTicketLimit(comments, perTicket, Boolean(rules.attachmentLinks), notes);
  const perFile = rules.capabilities.attachmentBytesPerFile;
  if (perFile && !rules.skipAttachments) noteOverFileLimit(comments, perFile, Boolean(rules.attachmentLinks), notes);
  let customFields = mapCustomFieldValues(ticket.customFields, rules, notes);
  // After every other change to the bodies, so the header stays their first line.
  const originals = rules.capabilities.setsOwnTimes ? rules.originals : undefined;
  if (originals?.header) comments = comments.map((c) => withOriginalHeader(c, originals));
  if (originals?.field) customFields = withOriginalDate(customFields, ticket);
  const tags = rules.addTag && !ticket.tags.includes(rules.addTag) ? [...ticket.tags, rules.addTag] : ticket.tags;
  return { kind: 'planned', record: { ...ticket, status, priority, type, comments, customFields, tags }, notes };
}

/**
 * Names the attachments a target with a per-ticket limit cannot hold: the writer carries them in order
 * while their declared sizes fit (the same rule as here) and links or names the rest.
 */
function noteOverTicketLimit(comments: readonly Comment[], limit: number, linked: boolean, notes: string[]): void {
  let left = limit;
  for (const comment of comments) {
    const over: string[] = [];
    for (const a of comment.attachments) {
      if (a.size > left) over.push(`${a.fileName} (${a.size} bytes)`);
      else left -= a.size;
    }
    if (over.length > 0) noteOver(comment, over, `${megabytes(limit)} per ticket`, linked, notes);
  }
}

/** Names the attachments larger than a target's per-file limit: the writer links or names each of them. */
function noteOverFileLimit(comments: readonly Comment[], limit: number, linked: boolean, notes: string[]): void {
  for (const comment of comments) {
    const over = comment.attachments.filter((a) => a.size > limit).map((a) => `${a.fileName} (${a.size} bytes)`);
    if (over.length > 0) noteOver(comment, over, `${megabytes(limit)} per file`, linked, notes);
  }
}

function noteOver(comment: Comment, over: string[], limit: string, linked: boolean, notes: string[]): void {
  notes.push(
    linked
      ? transformNote('attachments-linked', `comment ${comment.sourceId}: ${over.join(', ')} over the target's ${limit}, kept at the attachment location and linked`)
      : transformNote('attachments-not-carried', `comment ${comment.sourceId}: ${over.join(', ')} over the target's ${limit}, named in the comment`),
  );
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
  if (rules.skipKb && (entity === 'kbCategory' || entity === 'kbSection' || entity === 'kbArticle')) return { kind: 'filtered', rule: 'option:skipKb' };
  switch (entity) {
    case 'ticketField':
      return mapTicketField(record as TicketField, rules) as MapResult<E>;
    case 'group':
      return mapGroup(record as Group, rules) as MapResult<E>;
    case 'kbArticle': {
      const ids = rules.filters?.articleIds ?? [];
      if (ids.length > 0 && !ids.includes(record.sourceId)) return { kind: 'filtered', rule: 'filter:articleIds' };
      const notes: string[] = [];
      return { kind: 'planned', record: sanitizeArticle(record as KbArticle, notes) as EntityTypes[E], notes };
    }
    case 'ticket':
      return mapTicket(record as Ticket, rules) as MapResult<E>;
    case 'agent':
      return mapAgent(record as Agent) as MapResult<E>;
    default:
      return { kind: 'planned', record, notes: [] };
  }
}
