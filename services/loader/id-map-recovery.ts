import type { TargetConnector } from '../../connectors/sdk/contract.ts';
import type { Ledger } from '../ledger/ledger.ts';

/** Whether a stream yields nothing (reads one item at most). */
export async function isEmpty(entries: AsyncIterable<unknown>): Promise<boolean> {
  for await (const _ of entries) return false;
  return true;
}

const byNumber = (a: string, b: string) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a.localeCompare(b));

/**
 * Rebuilds the ticket id map from the stamps on the target when the ledger holds none for this
 * migration — its state directory was lost or purged, or the migration was renamed — so that a run
 * into a target an earlier run already wrote updates those tickets instead of creating each again.
 * One pass over the target's tickets (a list page per 100 or so), not a look-up per record. Where a
 * stamp appears on several target tickets, the oldest is taken (verification reports the others as
 * duplicates). Recovered entries have no checksum, so their next load rewrites them from the source
 * and appends only the comments the target lacks. Returns how many entries it wrote, or null when it
 * had nothing to do (the id map was not empty, or the target cannot list stamps).
 */
export async function recoverTicketIds(options: {
  target: TargetConnector;
  ledger: Ledger;
  sourcePlatform: string;
  runId: string;
  signal?: AbortSignal;
}): Promise<number | null> {
  const { target, ledger } = options;
  if (!target.stampedTickets || !(await isEmpty(ledger.idMap('ticket')))) return null;
  const prefix = `${options.sourcePlatform}:`;
  const chosen = new Map<string, string>();
  for await (const page of target.stampedTickets(prefix, options.signal)) {
    for (const { stamp, targetId } of page) {
      const sourceId = stamp.slice(prefix.length);
      const earlier = chosen.get(sourceId);
      if (sourceId && (earlier === undefined || byNumber(targetId, earlier) < 0)) chosen.set(sourceId, targetId);
    }
  }
  const entries = [...chosen];
  for (let i = 0; i < entries.length; i += 1000) {
    await Promise.all(entries.slice(i, i + 1000).map(([sourceId, targetId]) => ledger.putId({
      entity: 'ticket',
      sourceId,
      targetId,
      runId: options.runId,
      created: false,
      sourceUpdatedAt: '',
      checksum: '',
      plannedChecksum: '',
      children: {},
      deleted: false,
    })));
  }
  await ledger.flush();
  return chosen.size;
}
