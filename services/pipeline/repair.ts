import { randomBytes } from 'node:crypto';
import PQueue from 'p-queue';
import { toHdmError } from '../../schemas/errors.ts';
import { LOAD_ORDER, type EntityName } from '../../schemas/canonical.ts';
import type { RunInfo } from '../ledger/ledger.ts';
import { IdMapCache } from '../loader/id-map-cache.ts';
import { mapRecord } from '../mapper/record.mapping.ts';
import type { VerifyIssue } from '../reconciler/verify.ts';
import { silentLogger } from '../common/logger.ts';
import { createRunLoader } from '../loader/run-loader.ts';
import type { PipelineDeps, RunResult, StreamCounts } from './pipeline.ts';

/** What a repair does with each record a verification named. */
export type RepairableStatus = Extract<VerifyIssue['status'], 'missing' | 'mismatched' | 'failed'>;

const REPAIRABLE: ReadonlySet<string> = new Set<RepairableStatus>(['missing', 'mismatched', 'failed']);

/** Whether a verification issue is one a repair acts on (duplicates are reported, never deleted). */
export function isRepairable(issue: Pick<VerifyIssue, 'status'>): boolean {
  return REPAIRABLE.has(issue.status);
}

/**
 * Loads again exactly the records a verification found missing, mismatched or failed, each read anew
 * from the source. A record whose target copy is gone is created again (its id-map entry is retired
 * first, so the loader does not trust it); a mismatched one is written over whatever the target holds
 * now; a failed one is simply tried again. Nothing else is read or written.
 */
export async function repairMigration(deps: PipelineDeps, issues: readonly Pick<VerifyIssue, 'entity' | 'sourceId' | 'status'>[]): Promise<RunResult> {
  const { source, target, ledger } = deps;
  await Promise.all([source.check(), target.check()]);
  const run: RunInfo = {
    migration: deps.migration,
    runId: `repair-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`,
    kind: 'repair',
    status: 'running',
    startedAt: new Date().toISOString(),
    finishedAt: null,
    cutoff: null,
    summary: {},
  };
  await ledger.saveRun(run);
  const log = deps.logger ?? silentLogger;
  const ids = new IdMapCache(ledger);
  const { loader } = await createRunLoader(deps, run.runId, { detectConflicts: false, preparedFields: new Set(), ids });
  const counts: RunResult['counts'] = {};
  const count = (entity: EntityName): StreamCounts =>
    (counts[entity] ??= { read: 0, loaded: 0, created: 0, updated: 0, matched: 0, unchanged: 0, skipped: 0, deleted: 0, filtered: 0, failed: 0, conflicts: 0, retries: 0 });

  const repairOne = async (entity: EntityName, sourceId: string, status: RepairableStatus) => {
    const c = count(entity);
    const known = await ids.get(entity, sourceId);
    if (known && known.targetId !== '') {
      // Missing: the target record the id map names is gone. Mismatched: what we last wrote is not what
      // the target holds. Either way the entry's checksums can no longer be trusted to skip the write.
      await ids.put(status === 'missing' ? { ...known, deleted: true, runId: run.runId } : { ...known, checksum: '', plannedChecksum: '', runId: run.runId });
    }
    const record = await source.get(entity, sourceId);
    c.read += 1;
    if (!record) {
      c.skipped += 1;
      log.info({ runId: run.runId, entity, sourceId }, 'repair: gone at the source');
      return;
    }
    const mapped = mapRecord(entity, record, deps.rules);
    if (mapped.kind === 'filtered') {
      c.filtered += 1;
      return;
    }
    const result = await loader.load({ entity, sourceId, updatedAt: record.updatedAt, record: mapped.record, notes: mapped.notes });
    if (result.outcome === 'failed') {
      c.failed += 1;
      deps.events?.failed?.(entity, result.error);
      return;
    }
    c.loaded += 1;
    if (result.action in c) c[result.action as keyof StreamCounts] += 1;
    deps.events?.loaded?.(entity, result.action, 1);
  };

  try {
    for (const entity of LOAD_ORDER) {
      const mine = issues.filter((i) => i.entity === entity && isRepairable(i));
      if (mine.length === 0) continue;
      deps.events?.phase?.(entity, 'start');
      const queue = new PQueue({ concurrency: deps.loaderConcurrency });
      let stop: unknown = null;
      for (const issue of mine) {
        if (deps.signal?.aborted || stop) break;
        void queue.add(() => repairOne(entity, issue.sourceId, issue.status as RepairableStatus).catch((err) => (stop ??= err)));
        await queue.onSizeLessThan(deps.loaderConcurrency);
      }
      await queue.onIdle();
      if (stop) throw stop;
      deps.events?.phase?.(entity, 'done');
    }
    run.status = deps.signal?.aborted ? 'interrupted' : 'succeeded';
  } catch (err) {
    run.status = deps.signal?.aborted ? 'interrupted' : 'failed';
    run.summary = { error: toHdmError(err).message };
    throw err;
  } finally {
    run.finishedAt = new Date().toISOString();
    run.summary = { ...run.summary, counts };
    await ledger.flush();
    await ledger.saveRun(run);
  }
  return { run, counts, lag: null };
}
