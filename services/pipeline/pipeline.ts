import { tallyTransforms, type TransformKind } from '../mapper/transforms.ts';
import { randomBytes } from 'node:crypto';
import type { Connector, StreamState } from '../../connectors/sdk/contract.ts';
import { HdmError, toHdmError } from '../../connectors/sdk/errors.ts';
import type { EntityName, EntityTypes, Envelope, TicketField } from '../../schemas/canonical.ts';
import { LOAD_ORDER } from '../../schemas/canonical.ts';
import type { MessageBus, Subscription } from '../bus/message-bus.ts';
import type { Ledger, RunInfo, RunKind } from '../ledger/ledger.ts';
import { IdMapCache } from '../loader/id-map-cache.ts';
import { Loader, type ConflictPolicy, type PlannedRecord } from '../loader/loader.ts';
import { ReferenceResolver } from '../loader/reference-resolver.ts';
import { recoverTicketIds } from '../loader/id-map-recovery.ts';
import { pickDefaultAgent, readAll, type DefaultAgent } from './default-agent.ts';
import { silentLogger, type Logger } from '../runtime/logger.ts';
import { mapRecord, type MappingRules } from '../mapper/record.mapping.ts';
import { canonicalWeight, loaderStage, mapperStage, plannedTopic, recordsTopic, RUN_HEADER, type PlannedMessage } from './stages.ts';
import { targetFieldDefinitions } from '../mapper/wizard.mapping.ts';
import type { CheckpointData, CheckpointStore } from '../poller/checkpoint-store.ts';

export interface PipelineEvents {
  /** Records read from the source. */
  read?(entity: EntityName, count: number): void;
  /** A record mapped and handed to the loader. */
  mapped?(entity: EntityName): void;
  loaded?(entity: EntityName, action: string, records: number): void;
  filtered?(entity: EntityName, rule: string): void;
  failed?(entity: EntityName, error: HdmError): void;
  phase?(entity: EntityName, state: 'start' | 'done' | 'skipped'): void;
  /** A source user whose reference (assignee, author) went to the default agent. */
  reassigned?(userSourceId: string): void;
}

export interface PipelineDeps {
  migration: string;
  source: Connector;
  target: Connector;
  ledger: Ledger;
  bus: MessageBus;
  checkpoints: CheckpointStore;
  rules: MappingRules;
  /** Entities to move, in any order (load order is fixed). */
  entities: readonly EntityName[];
  /** Records loaded at once. */
  loaderConcurrency: number;
  /** Seconds re-read behind a saved cursor. */
  overlapSeconds: number;
  /** Email of the default agent on the target, if the user named one. */
  defaultAgentEmail: string | null;
  /** Apply deletions at the source to the target. Default false: they are recorded only. */
  propagateDeletes?: boolean;
  /** What a delta does when the target's copy was edited since our last load. Default `source-wins`. */
  conflictPolicy?: ConflictPolicy;
  /** Days after the full run ends during which deltas may run. Default 10. */
  retentionDays?: number;
  /**
   * `local` (default): the mapper and loader run in this process, on this bus. `remote`: they run as
   * their own services (cluster mode); this process is the poller: it publishes each stream, and before
   * the next one waits until the ledger shows every record of it settled, so load order holds.
   */
  stages?: 'local' | 'remote';
  /**
   * How often a remote-stages poller looks at the ledger while it waits, in ms. Default: every second,
   * every 100 ms once at most 200 records are left, so the next stream does not start a second late.
   */
  settlePollMs?: number;
  events?: PipelineEvents;
  /** Structured log of the run (failures, phases). Default: silent. */
  logger?: Logger;
  signal?: AbortSignal;
}

export interface StreamCounts {
  read: number;
  loaded: number;
  created: number;
  updated: number;
  matched: number;
  unchanged: number;
  skipped: number;
  deleted: number;
  filtered: number;
  failed: number;
  /** Loads whose target copy had been edited on the target since our last load. */
  conflicts: number;
}

export interface RunResult {
  run: RunInfo;
  /** Per entity: records read, loaded (by action), filtered, failed. */
  counts: Record<string, StreamCounts>;
  /** Source change to target write, in ms, over the records this run created or updated. */
  lag: { p50: number; p95: number; max: number; samples: number } | null;
}

const emptyCounts = (): StreamCounts => ({
  read: 0,
  loaded: 0,
  created: 0,
  updated: 0,
  matched: 0,
  unchanged: 0,
  skipped: 0,
  deleted: 0,
  filtered: 0,
  failed: 0,
  conflicts: 0,
});

/** Percentiles of change lag, from samples kept by a run. */
export function lagSummary(samples: number[]): RunResult['lag'] {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1], samples: sorted.length };
}

const newRunId = (kind: RunKind) => `${kind}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;

/**
 * The full migration on one bus: poller → mapper → loader per entity, in load order. Resumable: a
 * stream's cursor is saved only once everything it covers is loaded and in the ledger.
 */
export async function runFullMigration(deps: PipelineDeps, options: { restart?: boolean } = {}): Promise<RunResult> {
  const { source, target, ledger, checkpoints } = deps;
  await Promise.all([source.check(), target.check()]);

  let data: CheckpointData = await checkpoints.load();
  if (!data.full || data.full.status === 'done' || options.restart) {
    data = { ...data, full: { runId: newRunId('full'), status: 'running', startedAt: new Date().toISOString(), streams: {} } };
    await checkpoints.save(data);
  }
  const full = data.full!;
  const run: RunInfo = {
    migration: deps.migration,
    runId: full.runId,
    kind: 'full',
    status: 'running',
    startedAt: full.startedAt,
    finishedAt: null,
    cutoff: full.startedAt,
    summary: {},
  };
  await ledger.saveRun(run);
  const log = deps.logger ?? silentLogger;
  log.info({ runId: run.runId, source: source.platform, target: target.platform, resumed: Object.keys(full.streams).length > 0 }, 'full run started');

  const counts: RunResult['counts'] = {};
  const lags: number[] = [];
  try {
    await runEntities(deps, run, counts, lags, { detectConflicts: false }, async (entity) => full.streams[entity] ?? null, async (entity, checkpoint) => {
      full.streams[entity] = checkpoint;
      await checkpoints.save(data);
    });
    await settleFailures(ledger, run.runId, counts);
    full.status = 'done';
    full.finishedAt = new Date().toISOString();
    await checkpoints.save(data);
    run.status = 'succeeded';
    log.info({ runId: run.runId, counts }, 'full run succeeded');
  } catch (err) {
    run.status = deps.signal?.aborted ? 'interrupted' : 'failed';
    run.summary = { error: err instanceof Error ? err.message : String(err) };
    log.error({ runId: run.runId, err: run.summary.error }, `full run ${run.status}`);
    throw deps.signal?.aborted ? interruptedRun(run.runId, err) : err;
  } finally {
    run.finishedAt = new Date().toISOString();
    run.summary = { ...run.summary, counts };
    await ledger.flush();
    await ledger.saveRun(run);
  }
  return { run, counts, lag: lagSummary(lags) };
}

/**
 * The error of a run stopped on request: whatever failed once the stop cut the requests in flight is
 * a consequence of the stop, not the reason the run ended.
 */
export function interruptedRun(runId: string, cause?: unknown): HdmError {
  if (cause instanceof HdmError && cause.code === 'INTERRUPTED' && cause.context.runId === runId) return cause;
  return new HdmError('INTERRUPTED', `run ${runId} was stopped before it finished; what it covered so far is saved`, { retryable: false, context: { runId }, cause });
}

/**
 * A record whose load failed once may load later in the same run (a reference loaded on the fly, a
 * page read again): a run's failures are its records whose latest attempt in the run failed, as the
 * ledger has them, not every failure event on the way.
 */
export async function settleFailures(ledger: Ledger, runId: string, counts: RunResult['counts']): Promise<void> {
  for (const [entity, c] of Object.entries(counts)) {
    if (c.failed > 0) c.failed = (await ledger.runProgress(runId, entity as EntityName)).failed;
  }
}

/** The loader of one run with what it needs: references resolved through the id map, late ones loaded on the fly. */
export interface RunLoader {
  loader: Loader;
  defaultAgent: DefaultAgent;
  /** Looks up, in one go, the target IDs a page of records refers to. */
  prefetch(entity: EntityName, records: EntityTypes[EntityName][]): Promise<void>;
}

export async function createRunLoader(
  deps: Pick<PipelineDeps, 'source' | 'target' | 'ledger' | 'entities' | 'rules' | 'defaultAgentEmail' | 'conflictPolicy' | 'events'>,
  runId: string,
  options: {
    detectConflicts: boolean;
    preparedFields: ReadonlySet<string>;
    ids?: IdMapCache;
    /**
     * Loads a record met only as a reference elsewhere, returning its target ID (null when it did not
     * load). Default: this loader loads it. Cluster loaders hand it to the loader that owns its partition,
     * so that two processes meeting the same new record cannot both create it.
     */
    handOff?: (planned: PlannedRecord) => Promise<string | null>;
  },
): Promise<RunLoader> {
  const { source, target, ledger, events } = deps;
  const ids = options.ids ?? new IdMapCache(ledger);
  const defaultAgent = await pickDefaultAgent(deps, ids);
  // References to records created at the source after their own stream was read are loaded on the
  // fly; each is tried once per run.
  const onTheFly = new Map<string, Promise<string | null>>();
  const loadMissing = (entity: EntityName, sourceId: string): Promise<string | null> => {
    const key = `${entity}:${sourceId}`;
    let pending = onTheFly.get(key);
    if (!pending) {
      pending = (async () => {
        if (!deps.entities.includes(entity)) return null;
        const record = await getWithRetry(source, entity, sourceId);
        if (!record) return null;
        const mapped = mapRecord(entity, record, deps.rules);
        if (mapped.kind === 'filtered') return null;
        const planned: PlannedRecord = { entity, sourceId, updatedAt: record.updatedAt, record: mapped.record, notes: [...mapped.notes, 'loaded on the fly'] };
        if (options.handOff) return options.handOff(planned);
        const result = await loader.load(planned);
        return result.outcome === 'loaded' ? result.targetId : null;
      })();
      onTheFly.set(key, pending);
      // A failure is not remembered: the next record naming it tries again.
      pending.catch(() => onTheFly.delete(key));
    }
    return pending;
  };
  const resolver = new ReferenceResolver(ids, () => defaultAgent.current(), loadMissing, (id) => events?.reassigned?.(id));
  const loader = new Loader({
    runId,
    target,
    source,
    ledger,
    ids,
    resolver,
    detectConflicts: options.detectConflicts,
    conflictPolicy: deps.conflictPolicy,
    createdByRun: (entity, targetId) => entity === 'ticketField' && options.preparedFields.has(targetId),
  });
  return {
    loader,
    defaultAgent,
    prefetch: (entity, records) => resolver.prefetch(entity, records),
  };
}

/**
 * A source record by ID, null only when the source has none: a transient failure is tried again, and
 * one that persists fails the load naming it, rather than passing for a record that does not exist
 * (which would load the referring record without its reference).
 */
async function getWithRetry<E extends EntityName>(source: Connector, entity: E, sourceId: string): Promise<EntityTypes[E] | null> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await source.get(entity, sourceId);
    } catch (err) {
      const error = toHdmError(err, 'INTERNAL', { entity, recordId: sourceId });
      if (error.code === 'NOT_FOUND') return null;
      if (!error.retryable || attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/**
 * Creates on the target the custom fields the source's tickets need, before any ticket is written.
 * Returns the IDs of the fields it created: they count as this run's creations (undo removes them),
 * though the ticketField stream then finds them on the target rather than creating them.
 */
export async function prepareTarget(deps: Pick<PipelineDeps, 'source' | 'target' | 'entities' | 'rules'>): Promise<string[]> {
  const { source, target } = deps;
  if (!target.prepare) return [];
  const sourceFields = deps.entities.includes('ticketField') || deps.entities.includes('ticket') ? await readAll(source, 'ticketField') : [];
  const prepared = await target.prepare({
    ticketFields: targetFieldDefinitions(
      sourceFields.flatMap((e) => (e.op === 'upsert' ? [e.record as TicketField] : [])),
      deps.rules,
    ),
  });
  return prepared.createdFields;
}

/** Every selected stream of one run, in load order, from the checkpoints the caller keeps. */
export async function runEntities(
  deps: PipelineDeps,
  run: RunInfo,
  counts: RunResult['counts'],
  lags: number[],
  mode: { detectConflicts: boolean },
  loadCheckpoint: (entity: EntityName) => Promise<{ state: StreamState | null; done: boolean } | null>,
  saveCheckpoint: (entity: EntityName, checkpoint: { state: StreamState | null; done: boolean }) => Promise<void>,
): Promise<void> {
  const { events } = deps;
  const runId = run.runId;
  const preparedFields = await prepareTarget(deps);
  if (deps.entities.includes('ticket') && !(await loadCheckpoint('ticket'))) {
    const recovered = await recoverTicketIds({ target: deps.target, ledger: deps.ledger, sourcePlatform: deps.source.platform, runId, signal: deps.signal });
    if (recovered !== null) {
      run.summary = { ...run.summary, recoveredTicketIds: recovered };
      (deps.logger ?? silentLogger).info({ runId, recovered }, `id map empty: ${recovered} tickets found on the target by their stamps`);
    }
  }
  const remote = deps.stages === 'remote';
  if (remote) {
    // The loader services read these from the run, to count the fields as this run's creations.
    run.summary = { ...run.summary, preparedFields };
    await deps.ledger.saveRun(run);
  }
  const local = remote ? null : await createRunLoader(deps, runId, { detectConflicts: mode.detectConflicts, preparedFields: new Set(preparedFields) });
  // What the mapper changed in the records this run wrote, by kind: the report's list of transformations.
  const transforms: Partial<Record<TransformKind, number>> = {};
  run.summary = { ...run.summary, transformations: transforms };

  for (const entity of LOAD_ORDER) {
    if (!deps.entities.includes(entity)) continue;
    // A stream is never marked done, nor a later one started, once a stop was asked for.
    if (deps.signal?.aborted) throw interruptedRun(runId);
    const checkpoint = await loadCheckpoint(entity);
    if (checkpoint?.done) {
      events?.phase?.(entity, 'skipped');
      continue;
    }
    events?.phase?.(entity, 'start');
    const c = (counts[entity] = emptyCounts());
    const finalState = await runStream(deps, runId, entity, checkpoint?.state ?? null, local, c, lags, transforms, (state) =>
      saveCheckpoint(entity, { state, done: false }),
    );
    if (remote) await waitUntilSettled(deps, runId, entity, c);
    if (deps.signal?.aborted) throw interruptedRun(runId);
    // The state after the last page is where a delta of this stream starts.
    await saveCheckpoint(entity, { state: finalState, done: true });
    if (entity === 'agent') await local?.defaultAgent.resolve(true);
    events?.phase?.(entity, 'done');
    (deps.logger ?? silentLogger).info({ runId, entity, ...c }, 'stream done');
  }
}

/**
 * Waits until the loader services have settled every record of the stream that this run read, then
 * takes the stream's counts from the ledger. Says every half minute how far they are.
 */
async function waitUntilSettled(deps: PipelineDeps, runId: string, entity: EntityName, c: StreamCounts): Promise<void> {
  const log = deps.logger ?? silentLogger;
  let lastReport = Date.now();
  for (;;) {
    const progress = await deps.ledger.runProgress(runId, entity);
    if (progress.settled >= progress.seen) {
      const { loaded, filtered, failed, created, updated, matched, unchanged } = progress;
      Object.assign(c, { loaded, filtered, failed, created, updated, matched, unchanged });
      return;
    }
    if (deps.signal?.aborted) throw interruptedRun(runId);
    if (Date.now() - lastReport >= 30_000) {
      lastReport = Date.now();
      log.info({ runId, entity, ...progress }, `waiting for the loaders: ${progress.settled} of ${progress.seen} ${entity} records settled`);
    }
    const pollMs = deps.settlePollMs ?? (progress.seen - progress.settled <= 200 ? 100 : 1000);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function runStream(
  deps: PipelineDeps,
  runId: string,
  entity: EntityName,
  startState: StreamState | null,
  local: RunLoader | null,
  c: StreamCounts,
  lags: number[],
  transforms: Partial<Record<TransformKind, number>>,
  saveState: (state: StreamState) => Promise<void>,
): Promise<StreamState | null> {
  const { source, ledger, bus, events } = deps;
  const records = recordsTopic(entity);
  const subscriptions = local ? await subscribeStages(deps, runId, entity, local.loader, c, lags, transforms) : [];
  // Pages are committed strictly in order, each only after all it covers has settled.
  let commits: Promise<void> = Promise.resolve();
  let commitError: unknown = null;
  let lastState = startState;
  let failed = false;
  try {
    for await (const page of source.read(entity, startState, { overlapSeconds: deps.overlapSeconds, signal: deps.signal })) {
      if (deps.signal?.aborted) throw interruptedRun(runId);
      if (commitError) throw commitError;
      c.read += page.records.length;
      events?.read?.(entity, page.records.reduce((n, e) => n + canonicalWeight(e), 0));
      await ledger.recordSourceSeen(
        runId,
        page.records.map((e) => ({ entity: e.entity, sourceId: e.sourceId, updatedAt: e.updatedAt, deleted: e.op === 'delete' })),
      );
      await local?.prefetch(entity, page.records.flatMap((e) => (e.op === 'upsert' ? [e.record] : [])));
      const receipt = await bus.publish(
        records,
        page.records.map((e) => ({ key: `${e.entity}:${e.sourceId}`, value: e, headers: { [RUN_HEADER]: runId } })),
      );
      const state = page.state;
      lastState = state;
      commits = commits.then(async () => {
        await receipt.settled;
        await ledger.flush();
        await saveState(state);
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
    for (const subscription of subscriptions) await subscription.close({ drain: !failed });
  }
  return lastState;
}

/** The mapper and loader of one stream, in this process. */
async function subscribeStages(
  deps: PipelineDeps,
  runId: string,
  entity: EntityName,
  loader: Loader,
  c: StreamCounts,
  lags: number[],
  transforms: Partial<Record<TransformKind, number>>,
): Promise<Subscription[]> {
  const { bus, ledger, rules, events } = deps;
  const mapper = await bus.subscribe<Envelope>(
    recordsTopic(entity),
    mapperStage({
      bus,
      ledger,
      rules,
      runId,
      propagateDeletes: deps.propagateDeletes,
      onFiltered: (e, rule) => {
        c.filtered += 1;
        events?.filtered?.(e, rule);
      },
      onMapped: (e) => events?.mapped?.(e),
    }),
    { group: 'mapper', concurrency: 4 },
  );

  const loaderSub = await bus.subscribe<PlannedMessage>(
    plannedTopic(entity),
    loaderStage({
      loader,
      runId,
      logger: deps.logger,
      onLoaded: (e, result, weight) => {
        c.loaded += 1;
        if (result.action in c) c[result.action as keyof StreamCounts] += 1;
        if (result.rule?.startsWith('conflict:')) c.conflicts += 1;
        if (result.lagMs !== null && lags.length < 100_000) lags.push(result.lagMs);
        tallyTransforms(result.notes, transforms);
        events?.loaded?.(e, result.action, weight);
      },
      onFailed: (e, error) => {
        c.failed += 1;
        events?.failed?.(e, error);
      },
    }),
    { group: 'loader', concurrency: deps.loaderConcurrency },
  );
  return [mapper, loaderSub];
}

