import type { MigrationConfig } from '../../schemas/config.ts';
import { isRepairable, repairMigration } from '../pipeline/repair.ts';
import { verifyRuntime, type VerifyIssue } from '../reconciler/verify.ts';
import { openRuntime } from '../runtime/runtime.ts';
import { formatReconciliation, stdio, stopOnSignal, type Output } from './commands.ts';

export interface RepairFlags {
  json?: boolean;
}

/**
 * `hdm migrate --repair`: verifies, loads again exactly what the verification found missing,
 * mismatched or failed (a record deleted on the target is created anew), then verifies again.
 * Exit 0 when the second verification is clean.
 */
export async function repairCommand(config: Readonly<MigrationConfig>, flags: RepairFlags, io: Output = stdio, env = process.env): Promise<number> {
  const runtime = await openRuntime(config, env);
  const controller = new AbortController();
  const onSignal = stopOnSignal(controller, io);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await Promise.all([runtime.source.check(), runtime.target.check()]);
    const issues: VerifyIssue[] = [];
    const before = await verifyRuntime(runtime, { onIssue: (issue) => issues.push(issue) });
    const todo = issues.filter(isRepairable);
    if (todo.length === 0) {
      if (flags.json) io.out(JSON.stringify({ repaired: null, before, after: before }, null, 2));
      else io.out(`${formatReconciliation(before)}\n\nnothing to repair${before.clean ? '' : ' (duplicates are reported, never deleted: see the issues above)'}`);
      return before.clean ? 0 : 1;
    }
    if (!flags.json) io.out(`repairing ${todo.length} record(s): ${summarize(todo)}`);
    const result = await repairMigration(runtime.deps(undefined, controller.signal), todo);
    const after = await verifyRuntime(runtime);
    if (flags.json) io.out(JSON.stringify({ repaired: { run: result.run, counts: result.counts, records: todo.length }, before, after }, null, 2));
    else io.out(`${result.run.runId} ${result.run.status}\n\n${formatReconciliation(after)}`);
    return after.clean ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
}

function summarize(issues: VerifyIssue[]): string {
  const by = new Map<string, number>();
  for (const i of issues) by.set(`${i.entity} ${i.status}`, (by.get(`${i.entity} ${i.status}`) ?? 0) + 1);
  return [...by].map(([k, n]) => `${n} ${k}`).join(', ');
}
