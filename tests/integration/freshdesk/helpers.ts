import type { Connector, StreamState } from '../../../connectors/sdk/contract.ts';
import { freshdesk, startFreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import type { FreshdeskSandbox, FreshdeskSandboxOptions } from '../../../connectors/freshdesk/index.ts';
import type { EntityName, Envelope } from '../../../schemas/canonical.ts';
import { type FaithfulOptions, sandboxOptions } from '../../helpers/sandbox-options.ts';

/** A Freshdesk sandbox with the Enterprise plan's limits unless the test opts out with its reason. */
export async function sandbox(options: FaithfulOptions<FreshdeskSandboxOptions>): Promise<FreshdeskSandbox> {
  const sb = await startFreshdeskSandbox(sandboxOptions<FreshdeskSandboxOptions>(options));
  await sb.ready;
  return sb;
}

export function connect(sb: FreshdeskSandbox, extra: { concurrency?: number } = {}): Connector {
  return freshdesk.createConnector({ url: sb.url, credentials: sb.credentials, concurrency: extra.concurrency ?? 8 });
}

export async function readAll<E extends EntityName>(
  c: Connector,
  entity: E,
  state: StreamState | null = null,
  overlapSeconds?: number,
): Promise<{ records: Envelope<E>[]; states: StreamState[] }> {
  const records: Envelope<E>[] = [];
  const states: StreamState[] = [];
  for await (const page of c.read(entity, state, overlapSeconds === undefined ? undefined : { overlapSeconds })) {
    records.push(...page.records);
    states.push(page.state);
  }
  return { records, states };
}

export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}
