import { HdmError } from '../../schemas/errors.ts';
import type { RunInfo } from '../ledger/ledger.ts';
import { silentLogger } from '../common/logger.ts';
import { conductRun, newRunId, runEntities, type PipelineDeps, type RunResult } from './pipeline.ts';

const DAY_MS = 86_400_000;

/**
 * One delta pass: every stream read from where the last pass (or the full run) left it, so that what
 * was created or changed at the source since then reaches the target. Each pass is its own run in the
 * ledger. Refuses before a finished full run, and after the retention period.
 */
export async function runDeltaPass(deps: PipelineDeps, now: () => Date = () => new Date()): Promise<RunResult> {
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
  return conductRun(deps, run, {
    now,
    read: (counts, lags) =>
      runEntities(
        deps,
        run,
        counts,
        lags,
        { detectConflicts: true, delta: true },
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
      run.summary = { ...run.summary, counts, lag };
      log.info({ runId, status: run.status, counts, lag }, 'delta pass done');
    },
  });
}

export interface FollowOptions {
  /** Pause between the end of one pass and the start of the next, in ms. */
  intervalMs: number;
  /** Stop after this many passes (default: until the signal aborts). */
  maxPasses?: number;
  /** Each pass, once done; the next pass waits for what it returns. */
  onPass?(result: RunResult): void | Promise<void>;
}

/** Delta passes until stopped: changes keep flowing to the target until cutover. */
export async function followDelta(deps: PipelineDeps, options: FollowOptions): Promise<RunResult[]> {
  const results: RunResult[] = [];
  while (!deps.signal?.aborted && (options.maxPasses === undefined || results.length < options.maxPasses)) {
    const result = await runDeltaPass(deps);
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
