import { tallyTransforms, type TransformKind } from '../mapper/transforms.ts';
import { randomBytes } from 'node:crypto';
import type { Connector, ListedTicket, Page, ReadOptions, ReadWindow, StreamState, TargetCapabilities } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { LOAD_ORDER, type EntityName, type Envelope, type Ticket, type TicketStatus } from '../../schemas/canonical.ts';
import type { MessageBus, Subscription } from '../bus/message-bus.ts';
import type { Ledger, RunInfo, RunKind } from '../ledger/ledger.ts';
import type { ConflictPolicy, Loader } from '../loader/loader.ts';
import { createRunLoader, prepareTarget } from '../loader/run-loader.ts';
import { recoverTicketIds } from '../loader/id-map-recovery.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { plannedTopic, recordsTopic } from '../bus/topics.ts';
import { loaderStage, mapperStage, type PlannedMessage } from './stages.ts';
import type { CheckpointData, CheckpointStore, HistoryCheckpoint, WorkingSetCheckpoint } from '../poller/checkpoint-store.ts';
import { interruptedRun, pollStream, type PollStream } from '../poller/poller.ts';

export interface PipelineEvents {
  /**
   * Records read from the source: `count` canonical records (a ticket and each of its comments), and for a
   * ticket page the tickets, comments and attachments it held.
   */
  read?(entity: EntityName, count: number, conversation?: { tickets: number; comments: number; attachments: number }): void;
  /** A record mapped and handed to the loader. */
  mapped?(entity: EntityName): void;
  loaded?(entity: EntityName, action: string, records: number): void;
  filtered?(entity: EntityName, rule: string): void;
  failed?(entity: EntityName, error: HdmError): void;
  phase?(entity: EntityName, state: 'start' | 'done' | 'skipped'): void;
  /** Express order: the working set started moving, or is complete on the target. */
  workingSet?(state: 'start' | 'done'): void;
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
  /** Order of a full run: `entity` (default) or `express` (the working set first). */
  order?: 'entity' | 'express';
  /** What express order's working set holds. Default: tickets new, open, pending or on hold, or updated in the last 30 days. */
  express?: { recentDays: number; statuses: readonly TicketStatus[] };
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
  /** Loads of records whose latest load before the run had failed: retries, kept out of the lag. */
  retries: number;
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
  retries: 0,
});

/** Percentiles of change lag, from samples kept by a run. */
/** Loads of an entity run at once: `options.loaderConcurrency`, or more where the target asks for more. */
export function loaderConcurrencyOf(capabilities: TargetCapabilities, entity: EntityName, configured: number): number {
  return Math.max(configured, capabilities.loadConcurrency?.[entity] ?? 0);
}

/** The most loads of one entity the run holds at once (what the bus's partitions must allow). */
export function mostLoadsAtOnce(capabilities: TargetCapabilities, configured: number): number {
  return Math.max(configured, ...Object.values(capabilities.loadConcurrency ?? {}).map((n) => n ?? 0));
}

export function lagSummary(samples: number[]): RunResult['lag'] {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1], samples: sorted.length };
}

/** `<kind>-<UTC second of the start>-<6 hex>`. */
export const newRunId = (kind: RunKind, at: Date = new Date()) => `${kind}-${at.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;

/** What a run does within `conductRun`, and what each ending writes into its summary. */
export interface RunSteps {
  /** The clock that stamps the run's end. */
  now(): Date;
  /** Reads, maps and loads, counting per entity and sampling change lag. */
  read(counts: RunResult['counts'], lags: number[]): Promise<void>;
  /** Once every stream is read and failures are settled: marks the run's checkpoint done. */
  succeeded(counts: RunResult['counts']): Promise<void>;
  /** The run failed or was interrupted (its status already set), with the error's message. */
  failed(message: string): void;
  /** The run ended either way, before it is saved. */
  ended(counts: RunResult['counts'], lag: RunResult['lag']): void;
}

/**
 * Runs `steps` as the (already saved) run `run`: failures settled once everything is read, and the run
 * saved again when it ends, whatever happened. An aborted signal ends it `interrupted`, any other
 * error `failed`.
 */
export async function conductRun(deps: PipelineDeps, run: RunInfo, steps: RunSteps): Promise<RunResult> {
  const counts: RunResult['counts'] = {};
  const lags: number[] = [];
  try {
    await steps.read(counts, lags);
    await settleFailures(deps.ledger, run.runId, counts);
    await steps.succeeded(counts);
    run.status = 'succeeded';
  } catch (err) {
    run.status = deps.signal?.aborted ? 'interrupted' : 'failed';
    steps.failed(err instanceof Error ? err.message : String(err));
    throw deps.signal?.aborted ? interruptedRun(run.runId, err) : err;
  } finally {
    run.finishedAt = steps.now().toISOString();
    steps.ended(counts, lagSummary(lags));
    await deps.ledger.flush();
    await deps.ledger.saveRun(run);
  }
  return { run, counts, lag: lagSummary(lags) };
}

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

  return conductRun(deps, run, {
    now: () => new Date(),
    read: (counts, lags) =>
      runEntities(
        deps,
        run,
        counts,
        lags,
        {
          detectConflicts: false,
          // Kept for the deltas: their passes need not read the agents (a user export on Zendesk) to pick it again.
          defaultAgentChoice: {
            onChosen: async (sourceId) => {
              full.defaultAgent = sourceId;
              await checkpoints.save(data);
            },
          },
        },
        async (entity) => full.streams[entity] ?? null,
        async (entity, checkpoint) => {
          full.streams[entity] = checkpoint;
          await checkpoints.save(data);
        },
        deps.order === 'express' ? workingSetCheckpoint(deps, data) : undefined,
      ),
    succeeded: async (counts) => {
      full.status = 'done';
      full.finishedAt = new Date().toISOString();
      await checkpoints.save(data);
      log.info({ runId: run.runId, counts }, 'full run succeeded');
    },
    failed: (message) => {
      run.summary = { error: message };
      log.error({ runId: run.runId, err: message }, `full run ${run.status}`);
    },
    ended: (counts) => {
      run.summary = { ...run.summary, counts };
    },
  });
}

/** Express order's working-set checkpoint, kept with the full run's; its bounds are fixed the first time it is asked for. */
function workingSetCheckpoint(deps: PipelineDeps, data: CheckpointData) {
  const full = data.full!;
  return {
    load: async (): Promise<WorkingSetCheckpoint> => {
      if (!full.workingSet) {
        const express = deps.express ?? { recentDays: 30, statuses: ['new', 'open', 'pending', 'hold'] };
        full.workingSet = {
          state: null,
          done: false,
          recentSince: new Date(Date.parse(full.startedAt) - express.recentDays * 86_400_000).toISOString(),
          statuses: [...express.statuses],
        };
        await deps.checkpoints.save(data);
      }
      return full.workingSet;
    },
    save: async (checkpoint: WorkingSetCheckpoint) => {
      full.workingSet = checkpoint;
      await deps.checkpoints.save(data);
    },
  };
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

/**
 * Which streams a delta pass reads and how (delta --follow): a stream whose budget is spent can wait for a
 * later pass, so the pass does not stall the fast lane of the next one.
 */
export interface StreamSchedule {
  /** Before a stream's read: `wait` reads it, waiting for budget as usual; `try` reads it unless its first request finds its bucket spent; `skip` leaves it to a later pass unread. */
  turn(entity: EntityName): 'wait' | 'try' | 'skip';
  /** After a turn: the stream was read to its end, or deferred with its cursor where it was. */
  done(entity: EntityName, outcome: 'read' | 'deferred'): void;
}

/** A read that ended before it was sent because its budget was spent and the caller said not to wait. */
export function isDeferred(err: unknown): boolean {
  return err instanceof HdmError && err.code === 'RATE_LIMITED' && err.context.deferred === true;
}

/** Every selected stream of one run, in load order, from the checkpoints the caller keeps. */
export async function runEntities(
  deps: PipelineDeps,
  run: RunInfo,
  counts: RunResult['counts'],
  lags: number[],
  mode: {
    detectConflicts: boolean;
    delta?: boolean;
    schedule?: StreamSchedule;
    /** The default agent an earlier run chose, and where to keep this run's choice. */
    defaultAgentChoice?: { chosen?: string | null; onChosen?(sourceId: string | null): void | Promise<void> };
  },
  loadCheckpoint: (entity: EntityName) => Promise<{ state: StreamState | null; done: boolean } | null>,
  saveCheckpoint: (entity: EntityName, checkpoint: { state: StreamState | null; done: boolean }) => Promise<void>,
  /** Express order: the working-set pass's checkpoint. Absent: entity order. */
  workingSet?: { load(): Promise<WorkingSetCheckpoint>; save(checkpoint: WorkingSetCheckpoint): Promise<void> },
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
  const local = remote
    ? null
    : await createRunLoader(deps, runId, {
        detectConflicts: mode.detectConflicts,
        preparedFields: new Set(preparedFields),
        lazyDefaultAgent: mode.delta,
        defaultAgentChoice: mode.defaultAgentChoice,
        // In express order most contacts and organizations are created as the working set names them:
        // they count as their own entity's loads, so the run's counts match what the target gained.
        onLoadedOnTheFly: workingSet
          ? (entity, result) => {
              if (result.outcome !== 'loaded') return;
              const c = (counts[entity] ??= emptyCounts());
              c.loaded += 1;
              if (result.action in c) c[result.action as keyof StreamCounts] += 1;
              events?.loaded?.(entity, result.action, 1);
            }
          : undefined,
      });
  // What the mapper changed in the records this run wrote, by kind: the report's list of transformations.
  const transforms: Partial<Record<TransformKind, number>> = {};
  run.summary = { ...run.summary, transformations: transforms };

  const streamPass = async (
    entity: EntityName,
    startState: StreamState | null,
    save: (state: StreamState) => Promise<void>,
    select?: (e: Envelope, state: StreamState) => boolean,
    pages?: AsyncIterable<Page>,
    read?: PollStream['read'],
  ) => {
    // Express order reads the tickets twice: both passes add to the same counts.
    const c = (counts[entity] ??= emptyCounts());
    const finalState = await pollStream(deps, {
      runId,
      entity,
      startState,
      subscriptions: local ? await subscribeStages(deps, runId, entity, local.loader, c, lags, transforms) : [],
      onRead: (records, weight, conversation) => {
        c.read += records;
        events?.read?.(entity, weight, entity === 'ticket' ? { tickets: records, ...conversation } : undefined);
      },
      prefetch: local ? (records) => local.prefetch(entity, records) : undefined,
      saveState: save,
      select,
      pages,
      delta: mode.delta,
      read,
    });
    if (remote) {
      await waitUntilSettled(deps, runId, entity, c);
      // The loader services count no transformations here: the ledger has each load's.
      Object.assign(transforms, await deps.ledger.transformCounts(runId));
    }
    if (deps.signal?.aborted) throw interruptedRun(runId);
    return finalState;
  };

  // A delta pass reads the fast lane first, before any stream can wait on a bucket: the latest ticket
  // changes reach the target whatever the exports' budget. Its pages carry the ticket cursor unmoved;
  // the ticket stream's own turn then reads the export alone.
  let laneRead = false;
  if (mode.delta && deps.entities.includes('ticket') && deps.source.streams().some((s) => s.entity === 'ticket' && s.fastLane)) {
    const checkpoint = await loadCheckpoint('ticket');
    if (checkpoint && !checkpoint.done) {
      await streamPass('ticket', checkpoint.state, async () => {}, undefined, undefined, { lane: 'fast' });
      laneRead = true;
    }
  }

  /**
   * Express order's history over a ticket stream that reads in windows: each window of `historyWindows()`
   * newest first, then the tail (the newest window read on from where it ended, so what changed while the
   * older windows were read is carried too, and a delta starts where the tail ends). The reader hands out
   * each version in the one window that holds its place in the stream. Returns the tail's final state.
   */
  const historyInWindows = async (ws: WorkingSetCheckpoint, select: (e: Envelope) => boolean, only: ReadOptions['only']): Promise<StreamState | null> => {
    const history: HistoryCheckpoint = (ws.history ??= { windows: historyWindows(run.startedAt, ws.oldest ?? null), step: 0, state: null });
    await workingSet!.save(ws);
    // The tail re-reads the overlap behind the newest window's end: what that window handed on there is left out.
    const newest = new RecentVersions(deps.overlapSeconds);
    // What each page's state makes of the history checkpoint once all before it has settled: the step it
    // belongs to and where that step stands, or, on the empty page closing a window, the next step's start.
    const marks = new WeakMap<StreamState, Pick<HistoryCheckpoint, 'step' | 'state' | 'newest'>>();
    const { windows } = history;
    // The windows read one after the other as one run of pages: the next window is read while the last
    // one's records still settle, and the checkpoint moves in order all the same (pollStream saves a page's
    // state only after every earlier page has settled).
    async function* pages(): AsyncGenerator<Page> {
      let step = history.step;
      let state = history.state;
      let newestEnd = history.newest ?? null;
      while (step <= windows.length) {
        const tail = step === windows.length;
        const window = windows[tail ? 0 : step];
        const pick = tail
          ? (e: Envelope) => select(e) && !newest.has(e)
          : step === 0
            ? (e: Envelope, at: StreamState) => select(e) && newest.note(e, at)
            : select;
        let last = state;
        for await (const page of deps.source.read('ticket', state, { overlapSeconds: deps.overlapSeconds, signal: deps.signal, delta: mode.delta, window, only })) {
          last = page.state;
          const marked: StreamState = { ...page.state };
          marks.set(marked, { step, state: page.state, newest: newestEnd });
          yield { records: page.records.filter((e) => pick(e, page.state)), state: marked };
        }
        (deps.logger ?? silentLogger).info({ runId, step, window: tail ? 'tail' : window }, 'history window read');
        if (step === 0) newestEnd = last;
        step += 1;
        state = tail ? last : step === windows.length ? newestEnd : null;
        const closing: StreamState = { ...(last ?? { cursor: null, coveredUntil: null }) };
        marks.set(closing, { step, state, newest: newestEnd });
        yield { records: [], state: closing };
      }
    }
    const save = async (marked: StreamState) => {
      Object.assign(history, marks.get(marked)!);
      await workingSet!.save(ws);
    };
    if (history.step <= windows.length) await streamPass('ticket', history.state, save, undefined, pages());
    return history.state;
  };

  const plan = loadPlan(deps.entities, workingSet ? 'express' : 'entity');
  for (const step of plan) {
    // A stream is never marked done, nor a later one started, once a stop was asked for.
    if (deps.signal?.aborted) throw interruptedRun(runId);
    if (step === 'workingSet') {
      const ws = await workingSet!.load();
      if (!ws.done) {
        events?.workingSet?.('start');
        events?.phase?.('ticket', 'start');
        const inSet = inWorkingSet(ws);
        let oldest = ws.oldest ? Date.parse(ws.oldest) : Infinity;
        // The oldest version listed bounds how far back the history's windows reach.
        const listed = (updatedAt: string) => {
          const at = Date.parse(updatedAt);
          if (at < oldest) ws.oldest = new Date((oldest = at)).toISOString();
        };
        const select = (e: Envelope) => {
          listed(e.updatedAt);
          return e.op === 'upsert' && inSet(e.record as Ticket);
        };
        // The reader leaves the history's tickets out before it fetches their comments: the history reads them.
        const only = (t: ListedTicket) => {
          listed(t.updatedAt);
          return inSet(t);
        };
        const finalState = await streamPass('ticket', ws.state, (state) => workingSet!.save({ ...ws, state }), select, undefined, { only });
        ws.state = finalState;
        ws.coveredBefore = coveredBefore(run.startedAt, finalState, deps.overlapSeconds);
        ws.done = true;
        ws.completedAt = new Date().toISOString();
        await workingSet!.save(ws);
        (deps.logger ?? silentLogger).info({ runId, tickets: counts.ticket?.read ?? 0 }, 'working set complete');
      }
      run.summary = { ...run.summary, workingSet: { complete: true, completedAt: ws.completedAt ?? null, recentSince: ws.recentSince, statuses: ws.statuses } };
      await deps.ledger.saveRun(run);
      events?.workingSet?.('done');
      continue;
    }
    const entity = step;
    const checkpoint = await loadCheckpoint(entity);
    if (checkpoint?.done) {
      events?.phase?.(entity, 'skipped');
      continue;
    }
    const turn = mode.schedule?.turn(entity) ?? 'wait';
    if (turn === 'skip') {
      mode.schedule!.done(entity, 'deferred');
      events?.phase?.(entity, 'skipped');
      continue;
    }
    events?.phase?.(entity, 'start');
    let select: ((e: Envelope) => boolean) | undefined;
    let only: ReadOptions['only'];
    if (entity === 'ticket' && workingSet) {
      const ws = await workingSet.load();
      const inSet = inWorkingSet(ws);
      const before = Date.parse(ws.coveredBefore ?? run.startedAt);
      // Versions older than the working-set pass were all handed on by it; anything newer is read again.
      // The reader leaves them out before it fetches their comments.
      const handedOn = (t: Pick<Ticket, 'status' | 'updatedAt'>) => inSet(t) && Date.parse(t.updatedAt) < before;
      select = (e) => !(e.op === 'upsert' && handedOn(e.record as Ticket));
      only = (t) => !handedOn(t);
    }
    const read: PollStream['read'] = {
      ...(laneRead && entity === 'ticket' ? { lane: 'export' } : {}),
      ...(turn === 'try' ? { waitForBudget: false } : {}),
      ...(only ? { only } : {}),
    };
    let finalState: StreamState | null;
    try {
      finalState =
        select && readsInWindows(deps.source, entity)
          ? await historyInWindows(await workingSet!.load(), select, only)
          : await streamPass(entity, checkpoint?.state ?? null, (state) => saveCheckpoint(entity, { state, done: false }), select, undefined, read);
    } catch (err) {
      if (turn !== 'try' || !isDeferred(err) || deps.signal?.aborted) throw err;
      // Nothing of the stream was read: its cursor stays, a later pass takes its turn.
      mode.schedule!.done(entity, 'deferred');
      events?.phase?.(entity, 'skipped');
      (deps.logger ?? silentLogger).info({ runId, entity, retryAfter: (err as HdmError).context.retryAfter }, 'stream deferred: its budget is spent');
      continue;
    }
    mode.schedule?.done(entity, 'read');
    // The state after the last page is where a delta of this stream starts.
    await saveCheckpoint(entity, { state: finalState, done: true });
    // A delta pass picks the default agent when a reference first needs it (it was checked by the full run).
    if (entity === 'agent' && !mode.delta) await local?.defaultAgent.resolve(true);
    events?.phase?.(entity, 'done');
    (deps.logger ?? silentLogger).info({ runId, entity, ...counts[entity] }, 'stream done');
  }
}

/** Entities express order moves before the working set: few records, named by every ticket. */
const EXPRESS_FIRST: readonly EntityName[] = ['group', 'agent', 'ticketField'];

/**
 * The steps of a run. Entity order: each selected entity in load order. Express order: groups, agents and
 * ticket fields, then the working set (its contacts and organizations load as the tickets name them),
 * then every remaining stream in load order, the tickets last read whole.
 */
export function loadPlan(entities: readonly EntityName[], order: 'entity' | 'express'): (EntityName | 'workingSet')[] {
  const selected = LOAD_ORDER.filter((e) => entities.includes(e));
  if (order === 'entity' || !selected.includes('ticket')) return selected;
  const first = selected.filter((e) => EXPRESS_FIRST.includes(e));
  return [...first, 'workingSet', ...selected.filter((e) => !first.includes(e))];
}

/**
 * The instant before which the working-set pass handed on every version: what its cursor covered on the
 * source's clock, and not past the run's start, less the overlap window (updates in flight, a source clock
 * behind ours).
 */
function coveredBefore(runStartedAt: string, state: StreamState | null, overlapSeconds: number): string {
  const covered = state?.coveredUntil ? Date.parse(state.coveredUntil) : NaN;
  const until = Number.isNaN(covered) ? Date.parse(runStartedAt) : Math.min(covered, Date.parse(runStartedAt));
  return new Date(until - overlapSeconds * 1000).toISOString();
}

const DAY_MS = 86_400_000;

/** Whether the source reads this stream in time windows (`StreamDescriptor.windows`, sorted streams only). */
function readsInWindows(source: Connector, entity: EntityName): boolean {
  const stream = source.streams().find((s) => s.entity === entity);
  return Boolean(stream?.windows && stream.sorted && stream.cursorField !== null);
}

/**
 * Express order's history windows, newest first: measured back from the run's start (to the second), each
 * twice as long as the one after it: [start − 1 day, open), [start − 3 days, start − 1 day),
 * [start − 7 days, start − 3 days), … The last is open towards the past, and is reached once a window
 * would begin at or before `oldest` (the oldest version the working set read) or the epoch: a helpdesk
 * of n days costs about log2(n) windows.
 */
export function historyWindows(runStartedAt: string, oldest: string | null): ReadWindow[] {
  const anchor = Math.floor(Date.parse(runStartedAt) / 1000) * 1000;
  const floor = Math.max(0, oldest ? Date.parse(oldest) : 0);
  const iso = (ms: number) => new Date(ms).toISOString();
  const windows: ReadWindow[] = [];
  let until: number | null = null;
  for (let span = 1; ; span *= 2) {
    const from = anchor - (2 * span - 1) * DAY_MS;
    if (from <= floor) {
      windows.push({ from: null, until: until === null ? null : iso(until) });
      return windows;
    }
    windows.push({ from: iso(from), until: until === null ? null : iso(until) });
    until = from;
  }
}

/**
 * The versions the newest window handed on within the overlap behind where it has read (by each page's
 * `coveredUntil`), kept so the tail, which re-reads that overlap, does not hand them on twice.
 */
class RecentVersions {
  private readonly seen = new Map<string, { updatedAt: string; at: number }>();
  private notes = 0;

  constructor(private readonly overlapSeconds: number) {}

  /** Notes a version handed on; true, for use in a filter. */
  note(e: Envelope, state: StreamState): true {
    const at = state.coveredUntil ? Date.parse(state.coveredUntil) : NaN;
    this.seen.set(e.sourceId, { updatedAt: e.updatedAt, at });
    if (!Number.isNaN(at) && ++this.notes % 1000 === 0) {
      const keepFrom = at - (this.overlapSeconds + 1) * 1000;
      for (const [id, v] of this.seen) if (v.at < keepFrom) this.seen.delete(id);
    }
    return true;
  }

  has(e: Envelope): boolean {
    return this.seen.get(e.sourceId)?.updatedAt === e.updatedAt;
  }
}

/** Whether a ticket belongs to the working set the checkpoint fixed: an active status, or updated lately. */
export function inWorkingSet(ws: Pick<WorkingSetCheckpoint, 'recentSince' | 'statuses'>): (ticket: Pick<Ticket, 'status' | 'updatedAt'>) => boolean {
  const since = Date.parse(ws.recentSince);
  const statuses = new Set(ws.statuses);
  return (ticket) => statuses.has(ticket.status) || Date.parse(ticket.updatedAt) >= since;
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
        if (result.retry) c.retries += 1;
        tallyTransforms(result.notes, transforms);
        events?.loaded?.(e, result.action, weight);
      },
      onFailed: (e, error) => {
        c.failed += 1;
        events?.failed?.(e, error);
      },
    }),
    { group: 'loader', concurrency: loaderConcurrencyOf(deps.target.capabilities, entity, deps.loaderConcurrency) },
  );
  return [mapper, loaderSub];
}

