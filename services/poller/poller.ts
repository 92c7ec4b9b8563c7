import type { Connector, Page, ReadOptions, StreamState } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { EntityName, EntityTypes, Envelope } from '../../schemas/canonical.ts';
import type { MessageBus, Subscription } from '../bus/message-bus.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { conversationSize, recordsTopic, RUN_HEADER } from '../bus/topics.ts';

/**
 * The error of a run stopped on request: whatever failed once the stop cut the requests in flight is
 * a consequence of the stop, not the reason the run ended.
 */
export function interruptedRun(runId: string, cause?: unknown): HdmError {
  if (cause instanceof HdmError && cause.code === 'INTERRUPTED' && cause.context.runId === runId) return cause;
  return new HdmError('INTERRUPTED', `run ${runId} was stopped before it finished; what it covered so far is saved`, { retryable: false, context: { runId }, cause });
}

export interface PollerDeps {
  source: Connector;
  ledger: Ledger;
  bus: MessageBus;
  /** Seconds re-read behind a saved cursor. */
  overlapSeconds: number;
  signal?: AbortSignal;
}

export interface PollStream {
  runId: string;
  entity: EntityName;
  /** Where the stream's last saved cursor left it; null reads from the start. */
  startState: StreamState | null;
  /** The stages consuming what this publishes, in this process (none when they run as their own services). */
  subscriptions: Subscription[];
  /** A page read: its records, their canonical weight (a ticket counts each comment too), and the tickets' comments and attachments. */
  onRead?(records: number, weight: number, conversation: { comments: number; attachments: number }): void;
  /** Runs on a page's records before they are published (the local loader looks up their references in one go). */
  prefetch?(records: EntityTypes[EntityName][]): Promise<void>;
  /** Saves a cursor once everything it covers has settled. */
  saveState(state: StreamState): Promise<void>;
  /** Which records of each page this pass hands on (express order's passes); default all. The cursor covers the whole page either way. */
  select?(envelope: Envelope, state: StreamState): boolean;
  /**
   * The pages to publish, in place of reading the stream from `startState` (express order's history reads
   * its windows as one run of pages, so one window's records settle while the next one's are read).
   */
  pages?: AsyncIterable<Page>;
  /** The read is a delta pass (see `ReadOptions.delta`). Default false. */
  delta?: boolean;
  /** Which lane of a stream with a fast lane, whether the read waits for budget, which tickets it fetches (see `ReadOptions`). Default: both lanes, waiting, all. */
  read?: Pick<ReadOptions, 'lane' | 'waitForBudget' | 'only'>;
}

/**
 * Reads one stream from its cursor and publishes each page to the mapper; a page's cursor is saved
 * strictly in order, each only after all it covers has settled downstream and the ledger is flushed.
 * Returns the state after the last page.
 */
export async function pollStream(deps: PollerDeps, stream: PollStream): Promise<StreamState | null> {
  const { source, ledger, bus } = deps;
  const { runId, entity } = stream;
  const records = recordsTopic(entity);
  let commits: Promise<void> = Promise.resolve();
  let commitError: unknown = null;
  let lastState = stream.startState;
  let failed = false;
  try {
    const pages =
      stream.pages ??
      source.read(entity, stream.startState, { overlapSeconds: deps.overlapSeconds, signal: deps.signal, delta: stream.delta, ...stream.read });
    for await (const read of pages) {
      if (deps.signal?.aborted) throw interruptedRun(runId);
      if (commitError) throw commitError;
      const page = stream.select ? { records: read.records.filter((e) => stream.select!(e, read.state)), state: read.state } : read;
      if (stream.onRead) {
        const conversation = { comments: 0, attachments: 0 };
        for (const e of page.records) {
          const size = conversationSize(e);
          conversation.comments += size.comments;
          conversation.attachments += size.attachments;
        }
        // The canonical weight: each record, and each comment of a ticket (`canonicalWeight`).
        stream.onRead(page.records.length, page.records.length + conversation.comments, conversation);
      }
      await ledger.recordSourceSeen(
        runId,
        page.records.map((e) => ({ entity: e.entity, sourceId: e.sourceId, updatedAt: e.updatedAt, deleted: e.op === 'delete' })),
      );
      await stream.prefetch?.(page.records.flatMap((e) => (e.op === 'upsert' ? [e.record] : [])));
      const receipt = await bus.publish(
        records,
        page.records.map((e) => ({ key: `${e.entity}:${e.sourceId}`, value: e, headers: { [RUN_HEADER]: runId } })),
      );
      const state = page.state;
      lastState = state;
      commits = commits.then(async () => {
        await receipt.settled;
        await ledger.flush();
        await stream.saveState(state);
      });
      commits.catch((err) => (commitError = err));
    }
    // A reader may end early when stopped: that is not the end of the stream.
    if (deps.signal?.aborted) throw interruptedRun(runId);
    await commits;
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure, what is still queued is dropped: its cursor was not saved, the next run reads it again.
    for (const subscription of stream.subscriptions) await subscription.close({ drain: !failed });
  }
  return lastState;
}
