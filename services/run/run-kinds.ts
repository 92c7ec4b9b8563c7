import { z } from 'zod';
import { HdmError } from '../../connectors/sdk/errors.ts';
import { followDelta } from '../pipeline/delta.ts';
import { runFullMigration } from '../pipeline/pipeline.ts';
import { verifyRuntime } from '../reconciler/verify.ts';
import type { PipelineEvents } from '../pipeline/pipeline.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { join } from 'node:path';
import { runDemo } from '../demo/demo.ts';
import { writeDemoReport } from '../demo/demo.report.ts';
import { preflight } from '../mapper/preflight.ts';
import { undoRun } from '../undo/undo.ts';

/** What a run kind gets to do its work. */
export interface RunContext {
  runtime: Runtime;
  events: PipelineEvents;
  signal: AbortSignal;
  /** Each ledger run the job produced (a --follow delta produces one per pass). */
  onLedgerRun(runId: string, summary: Record<string, unknown>): void;
}

export interface RunKind<O = unknown> {
  kind: string;
  description: string;
  /** Options of the run, validated before it starts. */
  options: z.ZodType<O>;
  /** Refuses before the run starts (and before the caller is told it started) when it cannot run. */
  precheck?(runtime: Runtime): Promise<void>;
  start(context: RunContext, options: O): Promise<Record<string, unknown>>;
}

const full: RunKind<{ restart: boolean; verify: boolean }> = {
  kind: 'full',
  description: 'the full migration; resumes an unfinished one unless restart is true',
  options: z.object({ restart: z.boolean().default(false), verify: z.boolean().default(true) }).strict(),
  async start({ runtime, events, signal, onLedgerRun }, options) {
    const result = await runFullMigration(runtime.deps(events, signal), { restart: options.restart });
    onLedgerRun(result.run.runId, { status: result.run.status });
    if (!options.verify || signal.aborted) return { runId: result.run.runId, counts: result.counts };
    const report = await verifyOf(runtime, true);
    return { runId: result.run.runId, counts: result.counts, verifyId: report.verifyId, clean: report.clean };
  },
};

const delta: RunKind<{ follow: boolean; intervalSeconds: number; maxPasses?: number }> = {
  kind: 'delta',
  description: 'one delta pass, or passes until stopped with follow',
  async precheck(runtime) {
    const { full } = await runtime.checkpoints.load();
    if (!full) throw new HdmError('NOT_READY', 'no full run yet: start a full run first');
    if (full.status !== 'done') throw new HdmError('NOT_READY', `the full run ${full.runId} has not finished: start a full run to resume it first`);
  },
  options: z
    .object({
      follow: z.boolean().default(false),
      intervalSeconds: z.number().min(1).max(86_400).default(30),
      maxPasses: z.number().int().min(1).optional(),
    })
    .strict(),
  async start({ runtime, events, signal, onLedgerRun }, options) {
    const results = await followDelta(runtime.deps(events, signal), {
      intervalMs: options.intervalSeconds * 1000,
      maxPasses: options.follow ? options.maxPasses : 1,
      onPass: (result) => onLedgerRun(result.run.runId, { status: result.run.status, lag: result.lag }),
    });
    return { passes: results.length, runIds: results.map((r) => r.run.runId) };
  },
};

const verify: RunKind<{ sourceScan: boolean }> = {
  kind: 'verify',
  description: 'reads the target back and reconciles it with the source',
  options: z.object({ sourceScan: z.boolean().default(true) }).strict(),
  async start({ runtime }, options) {
    const report = await verifyOf(runtime, options.sourceScan);
    return { verifyId: report.verifyId, clean: report.clean, entities: report.entities };
  },
};

const sourceIds = z.array(z.string().min(1)).min(1).max(500);

const demo: RunKind<{ tickets?: string[]; articles?: string[]; count: number; resample: boolean }> = {
  kind: 'demo',
  description: 'a sample of tickets and KB articles through the pipeline, checked field by field on the target; re-runs update',
  options: z
    .object({
      tickets: sourceIds.optional(),
      articles: sourceIds.optional(),
      count: z.number().int().min(0).max(200).default(20),
      resample: z.boolean().default(false),
    })
    .strict(),
  async start({ runtime, signal, onLedgerRun }, options) {
    const mapping = await preflight(runtime.config, runtime.source, runtime.target);
    const report = await runDemo(runtime, mapping, { ...options, signal });
    onLedgerRun(report.runId, { records: report.records.length });
    const files = writeDemoReport(report, join(runtime.stateDir, 'demo'));
    return { runId: report.runId, selection: report.selection, records: report.records, files };
  },
};

const undo: RunKind<{ runId: string; yes: boolean }> = {
  kind: 'undo',
  description: 'deletes from the target exactly what a run created; without yes, only lists what it would delete',
  options: z.object({ runId: z.string().min(1).max(200), yes: z.boolean().default(false) }).strict(),
  async start({ runtime, onLedgerRun }, options) {
    await runtime.target.check();
    const report = await undoRun(
      { migration: runtime.config.name, target: runtime.target, ledger: runtime.ledger, concurrency: runtime.config.target.concurrency },
      options.runId,
      { dryRun: !options.yes },
    );
    if (report.undoRunId) onLedgerRun(report.undoRunId, { undoes: options.runId, totals: report.totals });
    return { ...report };
  },
};

function verifyOf(runtime: Runtime, sourceScan: boolean) {
  return verifyRuntime(runtime, { sourceScan });
}

/** Run kinds the API starts. A new kind is one more entry here. */
export const RUN_KINDS: ReadonlyMap<string, RunKind<never>> = new Map<string, RunKind<never>>(
  [full, delta, verify, demo, undo].map((k) => [k.kind, k as unknown as RunKind<never>]),
);

/** Kinds the engine will have but this version does not start yet; asking for one gets a clear 4xx. */
export const PLANNED_RUN_KINDS: readonly string[] = [];
