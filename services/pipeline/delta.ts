import { HdmError } from '../../schemas/errors.ts';
import type { RunInfo } from '../ledger/ledger.ts';
import { silentLogger } from '../common/logger.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import { conductRun, newRunId, runEntities, type PipelineDeps, type RunResult, type StreamSchedule } from './pipeline.ts';

const DAY_MS = 86_400_000;

/**
 * One delta pass: every stream read from where the last pass (or the full run) left it, so that what
 * was created or changed at the source since then reaches the target. Each pass is its own run in the
 * ledger. Refuses before a finished full run, and after the retention period. With a `schedule` (a
 * follow's passes) a stream whose budget is spent may be left to a later pass, as the schedule says.
 */
export async function runDeltaPass(deps: PipelineDeps, now: () => Date = () => new Date(), schedule?: FollowSchedule): Promise<RunResult> {
  const { source, target, ledger, checkpoints } = deps;
  const data = await checkpoints.load();
  const full = data.full;
  if (!full || full.status !== 'done') {
    throw new HdmError('NOT_READY', full ? `the full run ${full.runId} has not finished: resume it with hdm migrate first` : 'no full run yet: run hdm migrate first');
  }
  const retentionDays = deps.retentionDays ?? 10;
  const finishedAt = Date.parse(full.finishedAt ?? full.startedAt);
  const expires = finishedAt + retentionDays * DAY_MS;
  if (now().getTime() > expires) {
    throw new HdmError(
      'RETENTION_EXPIRED',
      `the migration's data expired on ${new Date(expires).toISOString()} (${retentionDays} days after the full run ended); run hdm purge, then a new full run`,
    );
  }
  await Promise.all([source.check(), target.check()]);

  // A new full run moves the cutoff: deltas continue from its final cursors, not older ones.
  if (!data.delta || data.delta.fullRunId !== full.runId) {
    data.delta = {
      fullRunId: full.runId,
      streams: Object.fromEntries(Object.entries(full.streams).map(([entity, checkpoint]) => [entity, checkpoint?.state ?? null])),
      passes: 0,
    };
    await checkpoints.save(data);
  }
  const delta = data.delta;
  const runId = newRunId('delta', now());
  const run: RunInfo = {
    migration: deps.migration,
    runId,
    kind: 'delta',
    status: 'running',
    startedAt: now().toISOString(),
    finishedAt: null,
    cutoff: full.startedAt,
    summary: { fullRunId: full.runId, pass: delta.passes + 1 },
  };
  await ledger.saveRun(run);
  const log = deps.logger ?? silentLogger;
  schedule?.beginPass();
  return conductRun(deps, run, {
    now,
    read: (counts, lags) =>
      runEntities(
        deps,
        run,
        counts,
        lags,
        { detectConflicts: true, delta: true, schedule, defaultAgentChoice: { chosen: full.defaultAgent } },
        async (entity) => ({ state: delta.streams[entity] ?? null, done: false }),
        async (entity, checkpoint) => {
          delta.streams[entity] = checkpoint.state;
          await checkpoints.save(data);
        },
      ),
    succeeded: async () => {
      delta.passes += 1;
      await checkpoints.save(data);
    },
    failed: (message) => {
      run.summary = { ...run.summary, error: message };
    },
    ended: (counts, lag) => {
      run.summary = { ...run.summary, counts, lag, ...(schedule ? { deferred: schedule.deferredThisPass() } : {}) };
      log.info({ runId, status: run.status, counts, lag, deferred: schedule?.deferredThisPass() }, 'delta pass done');
    },
  });
}

/** Longest a follow leaves a stream unread for want of budget, by default: two minutes. */
export const MAX_DEFER_MS = 120_000;

/**
 * How a follow's passes share a scarce bucket (Zendesk's incremental exports, 10 a minute on Enterprise,
 * drawn by agents, contacts, organizations and tickets alike) without waiting on it and without starving
 * a stream:
 * - a stream is tried without waiting: if its first request finds the bucket spent, it is deferred with
 *   its cursor where it was (nothing of it was read);
 * - streams deferred in the last pass go first: a stream read more recently than one of them, which has
 *   been deferred before, leaves its turn to it;
 * - a stream unread for `maxDeferMs` since its last read (or since the follow started) is read in the
 *   next pass, waiting for budget if it must.
 */
export class FollowSchedule implements StreamSchedule {
  private readonly lastRead = new Map<EntityName, number>();
  /** Streams a pass has deferred at least once: the ones that draw a scarce bucket. */
  private readonly budgetBound = new Set<EntityName>();
  private deferredBefore = new Set<EntityName>();
  private deferredNow = new Set<EntityName>();
  private readNow = new Set<EntityName>();
  private readonly turnAt = new Map<EntityName, number>();
  private readonly startedAt: number;

  constructor(
    readonly maxDeferMs: number = MAX_DEFER_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  beginPass(): void {
    this.deferredBefore = this.deferredNow;
    this.deferredNow = new Set();
    this.readNow = new Set();
  }

  private last(entity: EntityName): number {
    return this.lastRead.get(entity) ?? this.startedAt;
  }

  turn(entity: EntityName): 'wait' | 'try' | 'skip' {
    const now = this.now();
    this.turnAt.set(entity, now);
    if (now - this.last(entity) >= this.maxDeferMs) return 'wait';
    if (this.budgetBound.has(entity) && !this.deferredBefore.has(entity)) {
      for (const waiting of this.deferredBefore) {
        if (waiting !== entity && !this.readNow.has(waiting) && this.last(waiting) < this.last(entity)) return 'skip';
      }
    }
    return 'try';
  }

  done(entity: EntityName, outcome: 'read' | 'deferred'): void {
    if (outcome === 'read') {
      this.lastRead.set(entity, this.turnAt.get(entity) ?? this.now());
      this.readNow.add(entity);
    } else {
      this.deferredNow.add(entity);
      this.budgetBound.add(entity);
    }
  }

  /** The streams the current pass left to a later one. */
  deferredThisPass(): EntityName[] {
    return [...this.deferredNow];
  }
}

export interface FollowOptions {
  /** Pause between the end of one pass and the start of the next, in ms. */
  intervalMs: number;
  /** Longest a stream is left unread for want of budget before a pass waits for it, in ms. Default {@link MAX_DEFER_MS}. */
  maxDeferMs?: number;
  /** Stop after this many passes (default: until the signal aborts). */
  maxPasses?: number;
  /** Each pass, once done; the next pass waits for what it returns. */
  onPass?(result: RunResult): void | Promise<void>;
}

/** Delta passes until stopped: changes keep flowing to the target until cutover. */
export async function followDelta(deps: PipelineDeps, options: FollowOptions): Promise<RunResult[]> {
  const results: RunResult[] = [];
  // A single pass reads every stream; passes that follow one another share the budget.
  const schedule = options.maxPasses === 1 ? undefined : new FollowSchedule(options.maxDeferMs);
  while (!deps.signal?.aborted && (options.maxPasses === undefined || results.length < options.maxPasses)) {
    const result = await runDeltaPass(deps, undefined, schedule);
    results.push(result);
    await options.onPass?.(result);
    if (options.maxPasses !== undefined && results.length >= options.maxPasses) break;
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      // One listener per pause, removed when the pause ends: a long --follow must not pile them up.
      const timer = setTimeout(() => {
        deps.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, options.intervalMs);
      deps.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  return results;
}
