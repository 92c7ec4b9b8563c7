import { join } from 'node:path';
import { z } from 'zod';
import { HdmError } from '../../schemas/errors.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { runDemo, type DemoReport } from '../demo/demo.ts';
import { writeDemoReport } from '../demo/demo.report.ts';
import { preflight, type PreflightReport } from '../mapper/preflight.ts';
import { followDelta } from '../pipeline/delta.ts';
import { runFullMigration, type PipelineEvents, type RunResult } from '../pipeline/pipeline.ts';
import type { CheckpointStore } from '../poller/checkpoint-store.ts';
import { verifyRuntime, type VerifyReport } from '../reconciler/verify.ts';
import { verifyChangedRuntime, type ChangedVerifyReport } from '../reconciler/verify-changed.ts';
import type { Platforms, Runtime } from '../runtime/runtime.ts';
import { undoAttachments, undoRun, type UndoReport } from '../undo/undo.ts';
import { repairMigration } from '../pipeline/repair.ts';
import { ENTITIES, type EntityName } from '../../schemas/canonical.ts';

/**
 * The run layer: every kind of run the CLI, the API and the cluster poller start, with its options,
 * the checks made before any work, the work, and its summary. Entry points add only their own I/O.
 */

/** What a run is checked against before it starts: the migration and its two connectors; checkpoints when the caller has them. */
export interface RunSubject extends Platforms {
  config: Readonly<MigrationConfig>;
  checkpoints?: CheckpointStore;
}

/** What a run kind gets to do its work. */
export interface RunContext {
  runtime: Runtime;
  /** The mapping plan the preflight gave, for the kinds that check the mapping. */
  mapping: PreflightReport | null;
  events?: PipelineEvents;
  /** Stops the run at its next safe point: cursors saved, nothing half-written. */
  signal: AbortSignal;
  /** `remote`: the mapper and loader run as their own services (the cluster poller). Default `local`. */
  stages?: 'local' | 'remote';
  /** Each ledger run the job produced (a --follow delta produces one per pass). */
  onLedgerRun?(runId: string, summary: Record<string, unknown>): void;
  /** Each delta pass, once done. */
  onPass?(result: RunResult): void;
  /** A delta pass's re-check of what it changed (`verify`), or why there was none. */
  onVerifyChanged?(outcome: { report: ChangedVerifyReport } | { skipped: string }): void;
  /** A line for the operator about a step after the pipeline (verifying). */
  say?(line: string): void;
  /** The run moved on to a step after the pipeline (`verify`), for progress views. */
  onPhase?(name: string): void;
  /** A verification of this run began, under this ID. */
  onVerifyStarted?(verifyId: string): void;
}

export interface RunKind<O = unknown, R = unknown> {
  kind: string;
  description: string;
  /** Options of the run, validated before it starts. */
  options: z.ZodType<O>;
  /** Refuses, before any work, a run whose state or mapping cannot run; reads only. Returns the mapping plan. */
  preflight?(subject: RunSubject): Promise<PreflightReport | null>;
  start(context: RunContext, options: O): Promise<R>;
  /** The run's result as the API reports it. */
  summary(result: R): Record<string, unknown>;
}

/** The mapping against both platforms: the same check for every run that moves records. */
const mappingPreflight = (subject: RunSubject) => preflight(subject.config, subject.source, subject.target);

const deps = (context: RunContext) => ({ ...context.runtime.deps(context.events, context.signal), stages: context.stages });

export const fullRun: RunKind<{ restart: boolean; verify: boolean }, { result: RunResult; report: VerifyReport | null }> = {
  kind: 'full',
  description: 'the full migration; resumes an unfinished one unless restart is true',
  options: z.object({ restart: z.boolean().default(false), verify: z.boolean().default(true) }).strict(),
  preflight: mappingPreflight,
  async start(context, options) {
    const result = await runFullMigration(deps(context), { restart: options.restart });
    context.onLedgerRun?.(result.run.runId, { status: result.run.status });
    if (!options.verify || context.signal.aborted) return { result, report: null };
    context.onPhase?.('verify');
    context.say?.('verifying: reading the target back and reconciling it with the source…');
    return { result, report: await verifyRuntime(context.runtime, { sourceScan: true, onStart: context.onVerifyStarted }) };
  },
  summary: ({ result, report }) => ({ runId: result.run.runId, counts: result.counts, ...(report ? { verifyId: report.verifyId, clean: report.clean } : {}) }),
};

export const deltaRun: RunKind<{ follow: boolean; intervalSeconds: number; maxPasses?: number; verify?: boolean }, RunResult[]> = {
  kind: 'delta',
  description: 'one delta pass, or passes until stopped with follow',
  async preflight(subject) {
    if (subject.checkpoints) {
      const { full } = await subject.checkpoints.load();
      if (!full) throw new HdmError('NOT_READY', 'no full run yet: start a full run first');
      if (full.status !== 'done') throw new HdmError('NOT_READY', `the full run ${full.runId} has not finished: start a full run to resume it first`);
    }
    // A mapping edited since the full run is checked again before any pass.
    return mappingPreflight(subject);
  },
  options: z
    .object({
      follow: z.boolean().default(false),
      intervalSeconds: z.number().positive().max(86_400).default(30),
      maxPasses: z.number().int().min(1).optional(),
      /** After each pass that read anything, re-check on both sides what changed since the latest verification. */
      verify: z.boolean().default(false),
    })
    .strict(),
  start(context, options) {
    return followDelta(deps(context), {
      intervalMs: options.intervalSeconds * 1000,
      maxPasses: options.follow ? options.maxPasses : 1,
      onPass: async (result) => {
        context.onLedgerRun?.(result.run.runId, { status: result.run.status, lag: result.lag });
        context.onPass?.(result);
        if (!options.verify || context.signal.aborted) return;
        if (!Object.values(result.counts).some((c) => c.read > 0)) return context.onVerifyChanged?.({ skipped: 'the pass read nothing: the latest verification still stands' });
        try {
          // Read before the call: `f?.(await g())` skips g() when no one listens, and the re-check is the point.
          const report = await verifyChangedRuntime(context.runtime);
          context.onVerifyChanged?.({ report });
        } catch (err) {
          // No verification to build on yet: say so and keep the passes going.
          if (err instanceof HdmError && err.code === 'NOT_READY') context.onVerifyChanged?.({ skipped: err.message });
          else throw err;
        }
      },
    });
  },
  summary: (results) => ({ passes: results.length, runIds: results.map((r) => r.run.runId) }),
};

const verify: RunKind<{ sourceScan: boolean }, VerifyReport> = {
  kind: 'verify',
  description: 'reads the target back and reconciles it with the source',
  options: z.object({ sourceScan: z.boolean().default(true) }).strict(),
  start: ({ runtime, onVerifyStarted }, options) => verifyRuntime(runtime, { sourceScan: options.sourceScan, onStart: onVerifyStarted }),
  summary: (report) => ({ verifyId: report.verifyId, clean: report.clean, entities: report.entities }),
};

const sourceIds = z.array(z.string().min(1)).min(1).max(500);

const demo: RunKind<{ tickets?: string[]; articles?: string[]; count: number; resample: boolean }, { report: DemoReport; files: { html: string; json: string } }> = {
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
  preflight: mappingPreflight,
  async start({ runtime, mapping, signal, onLedgerRun }, options) {
    const report = await runDemo(runtime, mapping!, { ...options, signal });
    onLedgerRun?.(report.runId, { records: report.records.length });
    return { report, files: writeDemoReport(report, join(runtime.stateDir, 'demo')) };
  },
  summary: ({ report, files }) => ({ runId: report.runId, selection: report.selection, records: report.records, files }),
};

const undo: RunKind<{ runId: string; yes: boolean }, UndoReport> = {
  kind: 'undo',
  description: 'deletes from the target exactly what a run created; without yes, only lists what it would delete',
  options: z.object({ runId: z.string().min(1).max(200), yes: z.boolean().default(false) }).strict(),
  async start({ runtime, onLedgerRun }, options) {
    await runtime.target.check();
    const report = await undoRun(
      { migration: runtime.config.name, target: runtime.target, ledger: runtime.ledger, concurrency: runtime.config.target.concurrency, attachments: undoAttachments(runtime) },
      options.runId,
      { dryRun: !options.yes },
    );
    if (report.undoRunId) onLedgerRun?.(report.undoRunId, { undoes: options.runId, totals: report.totals });
    return report;
  },
  summary: (report) => ({ ...report }),
};

const repair: RunKind<{ records?: { entity: EntityName; sourceId: string }[] }, RunResult> = {
  kind: 'repair',
  description: 'loads again the records whose latest load failed (all of them, or those named), each read anew from the source',
  options: z.object({ records: z.array(z.object({ entity: z.enum(ENTITIES), sourceId: z.string().min(1).max(200) }).strict()).min(1).max(10_000).optional() }).strict(),
  preflight: mappingPreflight,
  async start(context, options) {
    const failed = new Set<string>();
    for (const f of await context.runtime.ledger.failures(1_000_000)) failed.add(`${f.entity}:${f.sourceId}`);
    // Only records whose latest load failed: a named record that has loaded since is left alone.
    const todo = (options.records ?? [...failed].map((k) => ({ entity: k.slice(0, k.indexOf(':')) as EntityName, sourceId: k.slice(k.indexOf(':') + 1) })))
      .filter((r) => failed.has(`${r.entity}:${r.sourceId}`))
      .map((r) => ({ ...r, status: 'failed' as const }));
    const result = await repairMigration(deps(context), todo);
    context.onLedgerRun?.(result.run.runId, { status: result.run.status, records: todo.length });
    return result;
  },
  summary: (result) => ({ runId: result.run.runId, status: result.run.status, counts: result.counts }),
};

/** Run kinds by name. A new kind is one more entry here. */
export const RUN_KINDS: ReadonlyMap<string, RunKind<never>> = new Map<string, RunKind<never>>(
  [fullRun, deltaRun, verify, demo, undo, repair].map((k) => [k.kind, k as unknown as RunKind<never>]),
);

/** Kinds the engine will have but this version does not start yet; asking for one gets a clear 4xx. */
export const PLANNED_RUN_KINDS: readonly string[] = [];

/** A run that passed its preflight: the only way to start one. */
export interface PreparedRun<R> {
  mapping: PreflightReport | null;
  start(context: Omit<RunContext, 'mapping'>): Promise<R>;
}

/**
 * Checks a run before any work (its state, its mapping against both platforms) and hands back what
 * starts it. Callers prepare before they wire anything of their own (Kafka, HTTP jobs), so a run that
 * cannot run fails the same way, with the same code, wherever it was started.
 */
export async function prepareRun<O, R>(kind: RunKind<O, R>, subject: RunSubject, options: O): Promise<PreparedRun<R>> {
  const mapping = (await kind.preflight?.(subject)) ?? null;
  return { mapping, start: (context) => kind.start({ ...context, mapping }, options) };
}
