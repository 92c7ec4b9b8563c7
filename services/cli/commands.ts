import { rmSync } from 'node:fs';
import { platform, PLATFORM_NAMES } from '../../connectors/registry.ts';
import type { RunningSandbox } from '../../connectors/sdk/platform.ts';
import { formatLimitTable } from '../../connectors/sdk/limits.ts';
import { HdmError, toHdmError } from '../../schemas/errors.ts';
import { loadMigrationConfig, parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import type { RunResult } from '../pipeline/pipeline.ts';
import { deltaRun, fullRun, prepareRun } from '../run/run-kinds.ts';
import { verifyRuntime, type VerifyReport } from '../reconciler/verify.ts';
import { verifyChangedRuntime, type ChangedVerifyReport } from '../reconciler/verify-changed.ts';
import { openLedger } from '../ledger/clickhouse-ledger.ts';
import { ledgerCredentials, openRuntime, stateDirOf } from '../runtime/runtime.ts';
import { stdio, type Output } from '../common/output.ts';
import { addUnmatched, formatPreflight } from '../mapper/preflight.ts';
import { formatTransforms } from '../mapper/transforms.ts';
import { Progress } from './progress.ts';
import type { Readiness } from '../api/cutover.ts';
import { startSandboxProcess, type SandboxProcess } from './sandbox-process.ts';

export { stdio, type Output };

/** Exit codes: 0 clean, 1 the work ran but is not clean, 2 bad config or usage, 3 an endpoint failed, 130 stopped on request. */
export function exitCodeOf(error: HdmError): number {
  if (error.code === 'INTERRUPTED') return 130;
  if (error.code === 'CONFIG_INVALID' || error.code === 'NOT_READY' || error.code === 'RETENTION_EXPIRED') return 2;
  if (error.code === 'AUTH_FAILED' || error.code === 'UNREACHABLE' || error.code === 'LEDGER_FAILED') return 3;
  return 1;
}

const COLUMNS = ['source', 'loaded', 'missing', 'mismatched', 'failed', 'accepted', 'duplicates', 'filtered'] as const;

export function formatReconciliation(report: VerifyReport): string {
  const header = ['entity'.padEnd(14), ...COLUMNS.map((c) => c.padStart(12))].join('');
  const lines = [header, '-'.repeat(header.length)];
  for (const [entity, stats] of Object.entries(report.entities)) {
    lines.push([entity.padEnd(14), ...COLUMNS.map((c) => String(stats![c]).padStart(12))].join(''));
  }
  if (report.issues.length) {
    lines.push('', 'issues (first of each entity):');
    for (const i of report.issues) lines.push(`  ${i.status.padEnd(10)} ${i.entity} ${i.sourceId}${i.targetId ? ` → ${i.targetId}` : ''}: ${i.detail}`);
  }
  const accepted = Object.values(report.entities).reduce((n, e) => n + (e?.accepted ?? 0), 0);
  const apart = accepted ? ` (${accepted} accepted failure${accepted === 1 ? '' : 's'} counted apart: hdm failures lists who accepted them and why)` : '';
  lines.push('', report.clean ? `reconciliation clean: nothing missing, mismatched, duplicated or failed${apart}` : `reconciliation NOT clean${apart}`);
  return lines.join('\n');
}

/** The cutover verdict, one line per check, the verdict last. */
export function formatReadiness(r: Readiness): string {
  const lines = r.checks.map((c) => `  ${c.ok ? 'ok  ' : c.blocking ? 'FAIL' : 'warn'}  ${c.check.padEnd(15)} ${c.detail}${c.at ? ` (${c.at})` : ''}`);
  const verdict = r.verdict === 'ready' ? 'ready to cut over' : r.verdict === 'verify-again' ? 'verify again: the target changed since the latest verification (hdm verify)' : 'not ready';
  return [...lines, '', `verdict: ${verdict}`].join('\n');
}

function formatRun(result: RunResult, progress: Progress, seconds: number): string {
  const lines = [`run ${result.run.runId} ${result.run.status} in ${seconds.toFixed(1)} s · ${progress.canonicalLoaded} canonical records (every record loaded, each ticket's comments counted as records too) · ${Math.round(progress.canonicalLoaded / Math.max(seconds, 0.001))} rec/s`];
  for (const [entity, c] of Object.entries(result.counts)) {
    lines.push(
      `  ${entity.padEnd(12)} read ${c.read}, created ${c.created}, updated ${c.updated}, matched ${c.matched}, unchanged ${c.unchanged}, filtered ${c.filtered}, failed ${c.failed}`,
    );
  }
  const transforms = formatTransforms(result.run.summary.transformations);
  if (transforms) lines.push(`transformations applied to what this run wrote (each record's, named, in the log):\n${transforms}`);
  return lines.join('\n');
}

/**
 * The first Ctrl-C (or SIGTERM) stops the run at the next safe point, cursors saved; a second one
 * exits at once (nothing is lost either way: what was not committed is read again).
 */
export function stopOnSignal(controller: AbortController, io: Output): () => void {
  return () => {
    if (controller.signal.aborted) process.exit(130);
    io.err('stopping at the next safe point (again to exit now)…');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  };
}

export interface MigrateFlags {
  /** The migration file, named in the hint to resume a stopped run. */
  configFile?: string;
  restart?: boolean;
  json?: boolean;
  progress?: boolean;
  verify?: boolean;
}

/** Runs a full migration (resuming an unfinished one), then reconciles unless told not to. */
export async function migrateCommand(config: Readonly<MigrationConfig>, flags: MigrateFlags, io: Output = stdio, env = process.env): Promise<number> {
  const controller = new AbortController();
  const runtime = await openRuntime(config, env, undefined, controller.signal);
  const onSignal = stopOnSignal(controller, io);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = new Progress({ enabled: flags.progress !== false && !flags.json });
  const started = Date.now();
  try {
    const prepared = await prepareRun(fullRun, runtime, { restart: flags.restart ?? false, verify: flags.verify !== false });
    const mapping = prepared.mapping!;
    const reassigned = new Set<string>();
    const events = {
      ...progress.events,
      reassigned: (id: string) => void reassigned.add(id),
      workingSet: (state: 'start' | 'done') => {
        if (state === 'done' && !flags.json) io.err('working set complete: open, pending and recent tickets are on the target; the history follows');
      },
    };
    let result: RunResult;
    let report: VerifyReport | null;
    let pipelineEnded = 0;
    try {
      ({ result, report } = await prepared.start({
        runtime,
        events,
        signal: controller.signal,
        say: (line) => {
          pipelineEnded = Date.now();
          progress.stop();
          if (!flags.json) io.err(line);
        },
      }));
    } catch (err) {
      if (!(err instanceof HdmError) || err.code !== 'INTERRUPTED') throw err;
      progress.stop();
      io.err(`${err.message}. To resume where it stopped: hdm migrate --config ${flags.configFile ?? '<migration file>'}`);
      return exitCodeOf(err);
    }
    const seconds = ((pipelineEnded || Date.now()) - started) / 1000;
    await addUnmatched(mapping, reassigned, runtime.source);
    progress.stop();
    if (flags.json) {
      io.out(
        JSON.stringify(
          {
            run: result.run,
            counts: result.counts,
            seconds,
            canonicalRecords: progress.canonicalLoaded,
            recordsPerSecond: Math.round(progress.canonicalLoaded / Math.max(seconds, 0.001)),
            peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
            ...(report ? { entities: report.entities, clean: report.clean, issues: report.issues, verifyId: report.verifyId } : {}),
            mapping,
          },
          null,
          2,
        ),
      );
    } else {
      io.out(formatRun(result, progress, seconds));
      const plan = formatPreflight(mapping);
      if (plan) io.out(`\n${plan}`);
      io.out(`\nledger: ${runtime.config.ledger.clickhouseUrl ?? `${runtime.stateDir}/ledger (embedded)`} · log: ${runtime.logFile}`);
      // The verdict comes last: nothing printed after it.
      if (report) io.out(`\n${formatReconciliation(report)}`);
    }
    const failed = Object.values(result.counts).some((c) => c.failed > 0);
    return report && !report.clean ? 1 : failed ? 1 : 0;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
}

function formatDelta(result: RunResult): string {
  const changed = Object.entries(result.counts)
    .filter(([, c]) => c.read > 0)
    .map(([entity, c]) => `${entity} ${c.read} read/${c.created} new/${c.updated} updated${c.deleted ? `/${c.deleted} deleted` : ''}${c.conflicts ? `/${c.conflicts} conflicts` : ''}${c.retries ? `/${c.retries} retried` : ''}${c.failed ? `/${c.failed} FAILED` : ''}`);
  const lag = result.lag ? ` · lag p50 ${(result.lag.p50 / 1000).toFixed(1)} s, p95 ${(result.lag.p95 / 1000).toFixed(1)} s` : '';
  return `${result.run.runId} ${result.run.status}: ${changed.length ? changed.join(', ') : 'no changes'}${lag}`;
}

/** Delta passes: one, or until stopped with --follow. */
export async function deltaCommand(
  config: Readonly<MigrationConfig>,
  flags: { follow?: boolean; intervalMs?: number; json?: boolean; maxPasses?: number; verify?: boolean },
  io: Output = stdio,
  env = process.env,
): Promise<number> {
  const controller = new AbortController();
  const runtime = await openRuntime(config, env, undefined, controller.signal);
  const onSignal = stopOnSignal(controller, io);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let failed = false;
  try {
    const prepared = await prepareRun(deltaRun, runtime, { follow: flags.follow ?? false, intervalSeconds: (flags.intervalMs ?? 30_000) / 1000, maxPasses: flags.maxPasses, verify: flags.verify ?? false });
    await prepared.start({
      runtime,
      signal: controller.signal,
      onPass: (result) => {
        if (Object.values(result.counts).some((c) => c.failed > 0)) failed = true;
        io.out(flags.json ? JSON.stringify({ run: result.run, counts: result.counts, lag: result.lag }) : formatDelta(result));
      },
      onVerifyChanged: (outcome) => {
        if ('report' in outcome && !outcome.report.clean) failed = true;
        if (flags.json) io.out(JSON.stringify({ verifyChanged: 'report' in outcome ? outcome.report : outcome }));
        else io.out('report' in outcome ? formatChangedVerify(outcome.report) : `  verify: skipped: ${outcome.skipped}`);
      },
    });
    return failed ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await runtime.close();
  }
}

/** Removes a migration's stored data: checkpoints, the run log and its ledger rows. */
export async function purgeCommand(config: Readonly<MigrationConfig>, io: Output = stdio): Promise<number> {
  const stateDir = stateDirOf(config);
  if (config.ledger.clickhouseUrl) {
    const { username, password } = ledgerCredentials(config);
    const ledger = await openLedger({ migration: config.name, url: config.ledger.clickhouseUrl, database: config.ledger.database, username, password });
    try {
      await ledger.purge();
    } finally {
      await ledger.close();
    }
  }
  rmSync(stateDir, { recursive: true, force: true });
  io.out(`purged migration ${config.name}: ${stateDir}${config.ledger.clickhouseUrl ? ' and its ledger rows' : ''}`);
  return 0;
}

/** One line on a re-check of what changed, then its first issues. */
export function formatChangedVerify(report: ChangedVerifyReport): string {
  const head =
    report.verifyId === report.baseVerifyId
      ? `  verify: nothing attempted since verification ${report.baseVerifyId}: it stands (${report.clean ? 'clean' : 'NOT clean'})`
      : `  verify ${report.verifyId}: ${report.rechecked} changed record${report.rechecked === 1 ? '' : 's'} re-checked on both sides, ${report.carried} carried over from ${report.baseVerifyId}${report.goneAtSource ? `, ${report.goneAtSource} gone at the source` : ''}: ${report.clean ? 'clean' : 'NOT clean'}`;
  return [head, ...report.issues.map((i) => `    ${i.entity} ${i.sourceId}: ${i.status}${i.detail ? ` (${i.detail})` : ''}`)].join('\n');
}

export async function verifyCommand(config: Readonly<MigrationConfig>, flags: { json?: boolean; sourceScan?: boolean; changed?: boolean }, io: Output = stdio, env = process.env): Promise<number> {
  const runtime = await openRuntime(config, env);
  try {
    await Promise.all([runtime.source.check(), runtime.target.check()]);
    if (flags.changed) {
      const changed = await verifyChangedRuntime(runtime);
      io.out(flags.json ? JSON.stringify(changed, null, 2) : formatChangedVerify(changed).replace(/^  /gm, ''));
      return changed.clean ? 0 : 1;
    }
    const report = await verifyRuntime(runtime, { sourceScan: flags.sourceScan });
    io.out(flags.json ? JSON.stringify(report, null, 2) : formatReconciliation(report));
    return report.clean ? 0 : 1;
  } finally {
    await runtime.close();
  }
}

export interface QuickstartFlags {
  tickets: number;
  seed: number;
  from: string;
  to: string;
  json?: boolean;
  progress?: boolean;
  stateDir: string;
}

/**
 * The demo: a seeded source sandbox, an empty target sandbox, a full migration between them with
 * the reconciliation. Exits 0 only when nothing is missing, mismatched or duplicated.
 */
export async function quickstartCommand(flags: QuickstartFlags, io: Output = stdio): Promise<number> {
  await Promise.all([platform(flags.from), platform(flags.to)]);
  const sandboxes: { close(): Promise<void> }[] = [];
  try {
    if (!flags.json) io.err(`starting a ${flags.from} sandbox with ${flags.tickets} tickets (seed ${flags.seed}) and an empty ${flags.to} sandbox…`);
    const starting = [
      startSandboxProcess(flags.from, { tickets: flags.tickets, seed: flags.seed, requestsPerMinute: null }),
      startSandboxProcess(flags.to, { tickets: 0, seed: flags.seed + 1, requestsPerMinute: null }),
    ];
    const started = await Promise.allSettled(starting);
    for (const s of started) if (s.status === 'fulfilled') sandboxes.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const [source, target] = started.map((s) => (s as PromiseFulfilledResult<SandboxProcess>).value);
    rmSync(flags.stateDir, { recursive: true, force: true });
    // Each side reads its sandbox's credentials from its own variables, so both sides may be one platform.
    const env: NodeJS.ProcessEnv = { ...process.env };
    const credentialsOf = (side: string, sandbox: SandboxProcess) =>
      Object.fromEntries(
        Object.entries(sandbox.credentials).map(([key, value]) => {
          const variable = `HDM_QUICKSTART_${side}_${key.toUpperCase()}`;
          env[variable] = value;
          return [key, { env: variable }];
        }),
      );
    const config = parseMigrationConfig(
      {
        name: 'quickstart',
        source: { platform: flags.from, url: source.url, concurrency: 16, credentials: credentialsOf('SOURCE', source) },
        target: { platform: flags.to, url: target.url, concurrency: 16, credentials: credentialsOf('TARGET', target) },
        stateDir: flags.stateDir,
      },
      'quickstart config',
    );
    if (!flags.json) io.err(`source ${source.url} · target ${target.url} · state ${flags.stateDir}`);
    return await migrateCommand(config, { json: flags.json, progress: flags.progress, restart: true }, io, env);
  } finally {
    await Promise.allSettled(sandboxes.map((s) => s.close()));
  }
}

export async function sandboxCommand(
  name: string,
  flags: { port: number; host: string; tickets: number; seed: number; rpm?: number | null; plan?: string; highVolume?: boolean; maxComments?: number; json?: boolean },
  io: Output = stdio,
): Promise<RunningSandbox> {
  const sandbox = await (await platform(name)).startSandbox({
    port: flags.port,
    host: flags.host,
    tickets: flags.tickets,
    seed: flags.seed,
    requestsPerMinute: flags.rpm,
    plan: flags.plan,
    highVolume: flags.highVolume,
    maxComments: flags.maxComments,
  });
  const limits = sandbox.limits;
  if (flags.json) {
    io.out(JSON.stringify({ platform: name, url: sandbox.url, credentials: sandbox.credentials, env: sandbox.env, counts: sandbox.counts(), ...(limits ? { limits } : {}) }));
  } else {
    io.out(`${name} sandbox listening on ${sandbox.url}`);
    io.out(`accepts credentials (sandbox only):`);
    for (const [key, value] of Object.entries(sandbox.env)) io.out(`  export ${key}=${value}`);
    io.out(`holds: ${Object.entries(sandbox.counts()).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    if (limits && limits.buckets.length > 0) {
      io.out(`limits enforced (${flags.rpm ? `--rpm ${flags.rpm} in place of the account limit; ` : ''}see docs/sandboxes/limits.md):`);
      for (const line of formatLimitTable(limits).split('\n')) io.out(`  ${line}`);
      io.out('Ctrl-C stops it');
    } else {
      const limit = flags.rpm === null ? 'none' : flags.rpm === undefined ? "the platform's Enterprise plan" : `${flags.rpm} requests/minute`;
      io.out(`rate limit: ${limit} · Ctrl-C stops it`);
    }
  }
  return sandbox;
}

export function loadConfigOrFail(file: string): Readonly<MigrationConfig> {
  return loadMigrationConfig(file);
}

export { PLATFORM_NAMES, stateDirOf, toHdmError };
