import { HdmError } from '../../schemas/errors.ts';
import type { Envelope } from '../../schemas/canonical.ts';
import type { BusMessage, Subscription } from '../bus/message-bus.ts';
import type { KafkaSubscription } from '../bus/kafka-bus.ts';
import type { RunInfo } from '../ledger/ledger.ts';
import { IdMapCache } from '../loader/id-map-cache.ts';
import type { Loader, PlannedRecord } from '../loader/loader.ts';
import { createRunLoader, prepareTarget, type RunLoader } from '../loader/run-loader.ts';
import { loaderConcurrencyOf, type PipelineEvents, type RunResult } from '../pipeline/pipeline.ts';
import { plannedTopic, recordsTopic, RUN_HEADER } from '../bus/topics.ts';
import { loaderStage, mapperStage, type PlannedMessage } from '../pipeline/stages.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { deltaRun, prepareRun, type PreparedRun } from '../run/run-kinds.ts';

/**
 * The three cluster services of one migration. Each runs until its signal aborts (the poller: until
 * its work is done, or with `follow` until the signal aborts). Consumers commit a message's offset only
 * after its handler resolved: the mapper's once its output is acknowledged by Kafka, the loader's once
 * the record is loaded and in the ledger.
 */

export interface PollerOptions {
  /** After the full run, keep running delta passes until stopped. */
  follow?: boolean;
  /** Pause between delta passes, in ms. */
  intervalMs?: number;
  /** Start a new full run even if one finished. */
  restart?: boolean;
  signal?: AbortSignal;
  events?: PipelineEvents;
  /** A line for the operator: a phase started or ended, a pass done. */
  say?(line: string): void;
}

export interface PollerResult {
  full: RunResult | null;
  deltas: RunResult[];
}

/**
 * Reads the source and publishes to Kafka; cursors go to the compacted checkpoints topic once the broker
 * acknowledged the records they cover. Between streams it waits until the loaders settled the last one.
 * `full` is the full run as prepared (its preflight passed) before any Kafka wiring.
 */
export async function runPoller(runtime: Runtime, full: PreparedRun<{ result: RunResult }>, options: PollerOptions = {}): Promise<PollerResult> {
  const say = options.say ?? (() => {});
  const context = { runtime, events: options.events, signal: options.signal ?? new AbortController().signal, stages: 'remote' as const };
  const data = await runtime.checkpoints.load();
  let fullResult: RunResult | null = null;
  if (!data.full || data.full.status !== 'done' || options.restart) {
    say(data.full && data.full.status !== 'done' && !options.restart ? `resuming full run ${data.full.runId}` : 'starting a full run');
    fullResult = (await full.start(context)).result;
    say(`full run ${fullResult.run.runId} ${fullResult.run.status}`);
  } else if (!options.follow) {
    say(`the full run ${data.full.runId} finished at ${data.full.finishedAt ?? '?'}; nothing to do (--follow runs delta passes, --restart a new full run)`);
  }
  let deltas: RunResult[] = [];
  if (options.follow) {
    const delta = await prepareRun(deltaRun, runtime, { follow: true, intervalSeconds: (options.intervalMs ?? 30_000) / 1000 });
    deltas = await delta.start({
      ...context,
      onPass: (r) => say(`delta pass ${r.run.runId} ${r.run.status}: ${Object.values(r.counts).reduce((n, c) => n + c.read, 0)} records read`),
    });
  }
  return { full: fullResult, deltas };
}

/** Runs until the signal aborts or a subscription fails; then closes them all. */
async function serveUntilStopped(subscriptions: Subscription[], signal: AbortSignal | undefined): Promise<void> {
  const failures = subscriptions.flatMap((s) => ((s as KafkaSubscription).failed ? [(s as KafkaSubscription).failed] : []));
  const stopped = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  try {
    await Promise.race([stopped, ...failures]);
  } finally {
    await Promise.allSettled(subscriptions.map((s) => s.close()));
  }
}

/** Maps each record of the migration's streams and publishes it to the loaders (or records what a rule filtered). */
export async function runMapper(runtime: Runtime, options: { signal?: AbortSignal; concurrency?: number } = {}): Promise<void> {
  const { bus, ledger, rules, config } = runtime;
  const subscriptions: Subscription[] = [];
  try {
    for (const entity of config.entities) {
      const handler = mapperStage({ bus, ledger, rules, runId: 'unknown-run', propagateDeletes: config.options.propagateDeletes });
      subscriptions.push(await bus.subscribe<Envelope>(recordsTopic(entity), handler, { group: 'mapper', concurrency: options.concurrency ?? 4 }));
    }
  } catch (err) {
    await Promise.allSettled(subscriptions.map((s) => s.close()));
    throw err;
  }
  await serveUntilStopped(subscriptions, options.signal);
}

/** How long a loader waits for the run a message names to appear in the ledger (the poller writes it first). */
const RUN_WAIT_MS = 60_000;
/** How long a loader waits for a record it handed to another partition's loader. */
const HAND_OFF_WAIT_MS = 120_000;
/** How long a loader believes that a record is missing from the id map, which other loaders write too. */
const SHARED_MISS_TTL_MS = 30_000;

/**
 * Loads planned records into the target. The loader of each run is built on its first message: the run's
 * kind (deltas detect conflicts) and the fields its poller created come from the ledger, and the target is
 * prepared once (the poller already created what was missing, so this only finds them).
 */
export async function runLoader(runtime: Runtime, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { bus, ledger, config } = runtime;
  const deps = runtime.deps(undefined, options.signal);
  const loaders = new Map<string, Promise<RunLoader>>();
  const build = async (runId: string) => {
    let run: RunInfo | null = null;
    for (const started = Date.now(); !run; ) {
      run = await ledger.run(runId);
      if (run) break;
      if (Date.now() - started > RUN_WAIT_MS) throw new HdmError('NOT_READY', `run ${runId} is not in the ledger: is this loader on the poller's ledger?`, { context: { runId } });
      await new Promise((r) => setTimeout(r, 500));
    }
    const preparedFields = new Set((run.summary.preparedFields as string[] | undefined) ?? []);
    await prepareTarget(deps);
    // The other loaders write the same id map: what was missing a moment ago may be loaded by now.
    const ids = new IdMapCache(ledger, { missTtlMs: SHARED_MISS_TTL_MS });
    return createRunLoader(deps, runId, { detectConflicts: run.kind === 'delta', preparedFields, ids, handOff: (planned) => handOff(runId, planned) });
  };
  // A record met only as a reference goes to its own planned topic, keyed like every other version of it:
  // the one loader that owns its partition loads it, in order, and this one waits for its id-map row.
  const handOff = async (runId: string, planned: PlannedRecord): Promise<string | null> => {
    const key = `${planned.entity}:${planned.sourceId}`;
    await bus.publish<PlannedMessage>(plannedTopic(planned.entity), [{ key, value: planned, headers: { [RUN_HEADER]: runId } }]);
    for (const started = Date.now(); Date.now() - started < HAND_OFF_WAIT_MS; ) {
      if (options.signal?.aborted) break;
      const found = (await ledger.lookupIds(planned.entity, [planned.sourceId])).get(planned.sourceId);
      if (found && !found.deleted) return found.targetId;
      await new Promise((r) => setTimeout(r, 250));
    }
    runtime.logger.warn({ runId, entity: planned.entity, sourceId: planned.sourceId }, `${key} was handed to its loader but is not in the id map after ${HAND_OFF_WAIT_MS / 1000} s`);
    return null;
  };
  const runLoaderFor = (runId: string): Promise<RunLoader> => {
    let entry = loaders.get(runId);
    if (!entry) {
      entry = build(runId);
      entry.catch(() => loaders.delete(runId));
      loaders.set(runId, entry);
      // Keep the loaders of the latest few runs only: a follow keeps starting new ones.
      while (loaders.size > 4) loaders.delete(loaders.keys().next().value!);
    }
    return entry;
  };
  const loaderFor = async (runId: string): Promise<Loader> => (await runLoaderFor(runId)).loader;
  // One id-map query per fetched batch and entity instead of several per record.
  const prefetch = async (messages: BusMessage<PlannedMessage>[]) => {
    const byRun = new Map<string, PlannedMessage[]>();
    for (const m of messages) {
      const runId = m.headers[RUN_HEADER];
      if (!runId) continue;
      const list = byRun.get(runId) ?? [];
      list.push(m.value);
      byRun.set(runId, list);
    }
    for (const [runId, planned] of byRun) {
      const upserts = planned.flatMap((p) => (p.op === 'delete' ? [] : [p]));
      if (upserts.length > 0) await (await runLoaderFor(runId)).prefetch(upserts[0].entity, upserts.map((p) => p.record));
    }
  };
  const subscriptions: Subscription[] = [];
  try {
    for (const entity of config.entities) {
      const handler = loaderStage({ loader: loaderFor, runId: 'unknown-run', logger: runtime.logger });
      subscriptions.push(await bus.subscribe<PlannedMessage>(plannedTopic(entity), handler, { group: 'loader', concurrency: loaderConcurrencyOf(runtime.target.capabilities, entity, config.options.loaderConcurrency), prefetch }));
    }
  } catch (err) {
    await Promise.allSettled(subscriptions.map((s) => s.close()));
    throw err;
  }
  await serveUntilStopped(subscriptions, options.signal);
}
