import { randomBytes } from 'node:crypto';
import PQueue from 'p-queue';
import { recordStamp, type TargetConnector } from '../../connectors/sdk/contract.ts';
import { DirectoryAttachmentStore } from '../loader/attachment-store.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { HdmError, toHdmError } from '../../schemas/errors.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import type { IdMapEntry, Ledger, RunInfo } from '../ledger/ledger.ts';

/**
 * Children before parents: tickets reference contacts, organizations, groups and agents; articles
 * live in sections, sections in categories; custom fields go last, once no ticket uses them.
 */
export const UNDO_ORDER: readonly EntityName[] = ['kbArticle', 'kbSection', 'kbCategory', 'ticket', 'contact', 'organization', 'agent', 'group', 'ticketField'];

export interface UndoRecord {
  sourceId: string;
  targetId: string;
  url: string;
}

export interface UndoEntityReport {
  /** Records the run created that are still on the target (before this undo). */
  created: number;
  /** Deleted now, or found already gone (which counts as deleted). */
  deleted: number;
  /** Records the platform cannot delete, with `reason`. */
  refused: UndoRecord[];
  reason?: string;
  failed: (UndoRecord & { code: string; message: string })[];
  /** With `--yes` absent: what would be deleted (at most `listLimit` shown). */
  wouldDelete?: UndoRecord[];
  /** Files removed from the attachment location with the deleted records. */
  filesRemoved?: number;
}

export interface UndoReport {
  /** The run being undone. */
  runId: string;
  /** The undo's own run in the ledger (null for a dry run). */
  undoRunId: string | null;
  dryRun: boolean;
  entities: Partial<Record<EntityName, UndoEntityReport>>;
  totals: { created: number; deleted: number; refused: number; failed: number; filesRemoved: number };
}

export interface UndoDeps {
  migration: string;
  target: TargetConnector;
  ledger: Ledger;
  /** Deletions in flight. Default 8. */
  concurrency?: number;
  /** Per entity, called as deletions settle. */
  onProgress?(entity: EntityName, done: number, total: number): void;
  /**
   * The attachment location (`options.attachmentLinks`) and how a source record is stamped: once a
   * ticket is deleted, the files kept there for it are removed too.
   */
  attachments?: { store: { removeRecord(stamp: string): Promise<number> }; stampOf(sourceId: string): string };
}

/** The migration's attachment location for undo, when one is configured (`options.attachmentLinks`). */
export function undoAttachments(runtime: Pick<Runtime, 'config' | 'rules'>): UndoDeps['attachments'] {
  const links = runtime.rules.attachmentLinks;
  if (!links) return undefined;
  return { store: new DirectoryAttachmentStore(links), stampOf: (sourceId) => recordStamp(runtime.config.source.platform, sourceId) };
}

const newUndoId = () => `undo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;

async function collect(ledger: Ledger, runId: string, entity: EntityName): Promise<IdMapEntry[]> {
  const out: IdMapEntry[] = [];
  for await (const entry of ledger.createdBy(runId, entity)) out.push(entry);
  return out;
}

/**
 * Deletes from the target exactly the records `runId` created (the id map's `created` flag; records
 * the run only matched, such as existing agents found by email, are never touched). Each deletion is
 * a ledger row (outcome `undone`) and marks the id map entry deleted, so a later migrate creates the
 * record again and a re-run of the undo after a crash picks up only what is left.
 */
export async function undoRun(deps: UndoDeps, runId: string, options: { dryRun: boolean; listLimit?: number }): Promise<UndoReport> {
  const { ledger, target } = deps;
  const run = await ledger.run(runId);
  if (!run) {
    throw new HdmError('CONFIG_INVALID', `migration ${deps.migration} has no run ${runId} in its ledger; \`hdm runs --config …\` lists them`);
  }
  if (run.kind === 'undo' || run.kind === 'verify') {
    throw new HdmError('CONFIG_INVALID', `run ${runId} is a${run.kind === 'undo' ? 'n undo' : ' verification'}; it created nothing to undo`);
  }
  const undeletable = target.capabilities.undeletable ?? {};
  const report: UndoReport = { runId, undoRunId: null, dryRun: options.dryRun, entities: {}, totals: { created: 0, deleted: 0, refused: 0, failed: 0, filesRemoved: 0 } };
  const ref = (e: IdMapEntry): UndoRecord => ({ sourceId: e.sourceId, targetId: e.targetId, url: target.recordUrl(e.entity, e.targetId) });

  let undo: RunInfo | null = null;
  if (!options.dryRun) {
    undo = {
      migration: deps.migration,
      runId: newUndoId(),
      kind: 'undo',
      status: 'running',
      startedAt: new Date().toISOString(),
      finishedAt: null,
      cutoff: null,
      summary: { undoes: runId },
    };
    report.undoRunId = undo.runId;
    await ledger.saveRun(undo);
  }

  try {
    for (const entity of UNDO_ORDER) {
      const entries = await collect(ledger, runId, entity);
      if (entries.length === 0) continue;
      const r: UndoEntityReport = { created: entries.length, deleted: 0, refused: [], failed: [] };
      report.entities[entity] = r;
      report.totals.created += entries.length;
      const reason = undeletable[entity];
      if (reason) {
        r.reason = reason;
        r.refused = entries.map(ref);
        report.totals.refused += entries.length;
        continue;
      }
      if (options.dryRun) {
        r.wouldDelete = entries.slice(0, options.listLimit ?? 20).map(ref);
        continue;
      }
      const queue = new PQueue({ concurrency: deps.concurrency ?? 8 });
      let settled = 0;
      let fatal: HdmError | null = null;
      for (const entry of entries) {
        void queue.add(async () => {
          if (fatal) return;
          const started = performance.now();
          try {
            try {
              await target.delete(entity, entry.targetId);
            } catch (err) {
              if (!(err instanceof HdmError && err.code === 'NOT_FOUND')) throw err;
            }
            if (entity === 'ticket' && deps.attachments) {
              const removed = await deps.attachments.store.removeRecord(deps.attachments.stampOf(entry.sourceId));
              if (removed > 0) r.filesRemoved = (r.filesRemoved ?? 0) + removed;
            }
            await ledger.putId({ ...entry, deleted: true, runId: undo!.runId });
            await ledger.recordAttempt({
              runId: undo!.runId,
              entity,
              sourceId: entry.sourceId,
              targetId: entry.targetId,
              outcome: 'undone',
              action: 'deleted',
              rule: `undo:${runId}`,
              errorCode: null,
              errorMessage: null,
              checksum: null,
              durationMs: performance.now() - started,
            });
            r.deleted += 1;
          } catch (err) {
            const error = toHdmError(err, 'INTERNAL', { entity, recordId: entry.sourceId });
            // The ledger or the credentials failing says nothing about the record: stop, a re-run resumes.
            if (error.code === 'LEDGER_FAILED' || error.code === 'AUTH_FAILED') {
              fatal = error;
              return;
            }
            r.failed.push({ ...ref(entry), code: error.code, message: error.message });
            // Still on the target: its latest outcome stays `loaded`; the row carries why the undo failed.
            await ledger.recordAttempt({
              runId: undo!.runId,
              entity,
              sourceId: entry.sourceId,
              targetId: entry.targetId,
              outcome: 'loaded',
              action: 'none',
              rule: `undo-failed:${runId}`,
              errorCode: error.code,
              errorMessage: error.message,
              checksum: null,
              durationMs: performance.now() - started,
            });
          } finally {
            settled += 1;
            deps.onProgress?.(entity, settled, entries.length);
          }
        }).catch((err: unknown) => {
          fatal ??= toHdmError(err, 'LEDGER_FAILED');
        });
      }
      await queue.onIdle();
      await ledger.flush();
      if (fatal) throw fatal;
      report.totals.deleted += r.deleted;
      report.totals.failed += r.failed.length;
      report.totals.filesRemoved += r.filesRemoved ?? 0;
    }
    if (undo) undo.status = report.totals.failed > 0 ? 'failed' : 'succeeded';
  } catch (err) {
    if (undo) {
      undo.status = 'failed';
      undo.summary = { ...undo.summary, error: err instanceof Error ? err.message : String(err) };
    }
    throw err;
  } finally {
    if (undo) {
      undo.finishedAt = new Date().toISOString();
      undo.summary = { ...undo.summary, totals: report.totals };
      await ledger.flush();
      await ledger.saveRun(undo);
    }
  }
  return report;
}
