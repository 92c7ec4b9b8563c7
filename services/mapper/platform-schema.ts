import type { Connector, SourceStatus, TargetCapabilities } from '../../connectors/sdk/contract.ts';
import type { Agent, Group, TicketField } from '../../schemas/canonical.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';

/** What a mapping can refer to on one platform: its ticket fields with options, groups and agents. */
export interface PlatformSchema {
  platform: string;
  ticketFields: TicketField[];
  groups: Group[];
  agents: Agent[];
  /** Statuses, priorities and types the platform can hold (as a target). */
  capabilities: TargetCapabilities;
  /** The platform's own ticket statuses where it has its own (RT lifecycles); absent or empty: the canonical ones. */
  statuses?: SourceStatus[];
}

/** Reads a platform's schema through its connector (three small streams). */
export async function readPlatformSchema(connector: Connector): Promise<PlatformSchema> {
  const [fields, groups, agents, statuses] = await Promise.all([
    connector.capabilities.entities.includes('ticketField') ? readAll(connector, 'ticketField') : Promise.resolve([]),
    connector.capabilities.entities.includes('group') ? readAll(connector, 'group') : Promise.resolve([]),
    readAll(connector, 'agent'),
    connector.sourceStatuses ? connector.sourceStatuses() : Promise.resolve([]),
  ]);
  const records = <T>(envelopes: { op: string; record: unknown }[]) => envelopes.flatMap((e) => (e.op === 'upsert' ? [e.record as T] : []));
  return {
    platform: connector.platform,
    ticketFields: records<TicketField>(fields),
    groups: records<Group>(groups),
    agents: records<Agent>(agents),
    capabilities: connector.capabilities,
    statuses,
  };
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/** The target field a source field lands on by name: same key, else same title. */
export function fieldByName(fields: TicketField[], field: Pick<TicketField, 'key' | 'title'>): TicketField | undefined {
  return fields.find((f) => f.key === field.key) ?? fields.find((f) => same(f.title, field.title));
}

export function groupByName(groups: Group[], name: string): Group | undefined {
  return groups.find((g) => same(g.name, name));
}

export function agentByEmail(agents: Agent[], email: string): Agent | undefined {
  return agents.find((a) => same(a.email, email));
}
