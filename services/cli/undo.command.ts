import type { MigrationConfig } from '../../schemas/config.ts';
import { openRuntime } from '../runtime/runtime.ts';
import { undoAttachments, undoRun, type UndoReport } from '../undo/undo.ts';
import { stdio, type Output } from './commands.ts';

export function formatUndo(report: UndoReport): string {
  const lines: string[] = [];
  lines.push(
    report.dryRun
      ? `dry run: undoing ${report.runId} would delete ${report.totals.created - report.totals.refused} records from the target (add --yes to delete them)`
      : `undo of ${report.runId} (${report.undoRunId}): deleted ${report.totals.deleted}, refused ${report.totals.refused}, failed ${report.totals.failed}${report.totals.filesRemoved ? `; ${report.totals.filesRemoved} files removed from the attachment location` : ''}`,
  );
  if (report.totals.created === 0) lines.push('  nothing left on the target that this run created');
  for (const [entity, r] of Object.entries(report.entities)) {
    if (!r) continue;
    const parts = report.dryRun ? [`${r.created - r.refused.length} to delete`] : [`${r.deleted} deleted`];
    if (r.filesRemoved) parts.push(`${r.filesRemoved} linked files removed`);
    if (r.refused.length) parts.push(`${r.refused.length} refused`);
    if (r.failed.length) parts.push(`${r.failed.length} FAILED`);
    lines.push(`  ${entity.padEnd(12)} ${parts.join(', ')}`);
    for (const w of r.wouldDelete ?? []) lines.push(`      ${w.sourceId} → ${w.targetId}  ${w.url}`);
    if (r.wouldDelete && r.wouldDelete.length < r.created - r.refused.length) lines.push(`      … and ${r.created - r.refused.length - r.wouldDelete.length} more`);
    if (r.refused.length) {
      lines.push(`      not deleted: ${r.reason}; remove these by hand:`);
      for (const x of r.refused) lines.push(`      ${x.sourceId} → ${x.targetId}  ${x.url}`);
    }
    for (const f of r.failed) lines.push(`      FAILED ${f.sourceId} → ${f.targetId}: ${f.code} ${f.message}`);
  }
  return lines.join('\n');
}

/**
 * `hdm undo <run>`: deletes from the target what the run created. Without `yes` it only says what it
 * would delete. Exit 0 when everything asked for is gone; 1 when something was refused or failed.
 */
export async function undoCommand(
  config: Readonly<MigrationConfig>,
  runId: string,
  flags: { yes?: boolean; json?: boolean; progress?: boolean },
  io: Output = stdio,
  env = process.env,
): Promise<number> {
  const runtime = await openRuntime(config, env);
  try {
    await runtime.target.check();
    const showProgress = flags.progress !== false && !flags.json && flags.yes;
    let lastLine = 0;
    const report = await undoRun(
      {
        migration: config.name,
        target: runtime.target,
        ledger: runtime.ledger,
        concurrency: config.target.concurrency,
        attachments: undoAttachments(runtime),
        onProgress: (entity, done, total) => {
          if (!showProgress) return;
          if (done === total || Date.now() - lastLine > 2000) {
            lastLine = Date.now();
            io.err(`undo: ${entity} ${done}/${total}`);
          }
        },
      },
      runId,
      { dryRun: !flags.yes, listLimit: flags.json ? 1000 : 20 },
    );
    if (flags.yes) {
      // The full run's cursors describe data no longer on the target: the next migrate starts a new
      // run (rather than resuming past streams it marked done), and deltas wait for it.
      const data = await runtime.checkpoints.load();
      if (data.full?.runId === runId) await runtime.checkpoints.save({ ...data, full: null, delta: null });
    }
    io.out(flags.json ? JSON.stringify(report, null, 2) : formatUndo(report));
    return report.totals.failed > 0 || report.totals.refused > 0 ? 1 : 0;
  } finally {
    await runtime.close();
  }
}
