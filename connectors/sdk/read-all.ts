import type { Connector } from './contract.ts';
import type { EntityName, Envelope } from '../../schemas/canonical.ts';

/** Everything of one stream, read whole from its start (small streams: agents, groups, ticket fields). */
export async function readAll<E extends EntityName>(connector: Connector, entity: E): Promise<Envelope<E>[]> {
  const out: Envelope<E>[] = [];
  for await (const page of connector.read(entity, null)) out.push(...page.records);
  return out;
}
