import type { Ledger, RunInfo } from '../ledger/ledger.ts';
import type { LedgerQueries } from '../runtime/runtime.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { LOAD_ORDER } from '../../schemas/canonical.ts';

export interface EntityRow {
  entity: string;
  /** Records at the source (seen by a run, not deleted). */
  source: number;
  loaded: number;
  filtered: number;
  failed: number;
  notAttempted: number;
  /** From the latest verification; null before any. */
  missing: number | null;
  mismatched: number | null;
  duplicates: number | null;
}

export interface Verification {
  verifyId: string;
  checkedAt: string;
  clean: boolean;
}

export interface Reconciliation {
  entities: EntityRow[];
  verification: Verification | null;
}

const iso = (ch: string) => (ch.includes('T') ? ch : `${ch.replace(' ', 'T')}Z`);

/** Per entity: the ledger's counts with the latest verification's missing, mismatched and duplicated. */
export async function reconciliation(ledger: Ledger & LedgerQueries): Promise<Reconciliation> {
  const summary = await ledger.summary();
  const latest = await ledger.query(
    `SELECT verify_id, max(checked_at) AS last_checked FROM verifications WHERE migration = {migration:String}
     GROUP BY verify_id ORDER BY last_checked DESC LIMIT 1`,
  );
  let verification: Verification | null = null;
  const verified = new Map<string, Record<string, number>>();
  if (latest.length) {
    const verifyId = String(latest[0].verify_id);
    const rows = await ledger.query(
      `SELECT entity, status, count() AS n FROM verifications WHERE migration = {migration:String} AND verify_id = {verifyId:String} GROUP BY entity, status`,
      { params: { verifyId } },
    );
    for (const r of rows) {
      const e = verified.get(String(r.entity)) ?? {};
      e[String(r.status)] = Number(r.n);
      verified.set(String(r.entity), e);
    }
    const bad = rows.some((r) => ['missing', 'mismatched', 'duplicate', 'failed'].includes(String(r.status)) && Number(r.n) > 0);
    verification = { verifyId, checkedAt: iso(String(latest[0].last_checked)), clean: !bad };
  }
  const order = (e: string) => (LOAD_ORDER as readonly string[]).indexOf(e) >>> 0;
  const names = [...new Set([...Object.keys(summary), ...verified.keys()])].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const entities: EntityRow[] = names.map((entity) => {
    const s = summary[entity] ?? { source: 0, loaded: 0, filtered: 0, failed: 0, notAttempted: 0 };
    const v = verified.get(entity);
    return {
      entity,
      source: s.source,
      loaded: s.loaded,
      filtered: s.filtered,
      failed: s.failed,
      notAttempted: s.notAttempted,
      missing: verification ? (v?.missing ?? 0) : null,
      mismatched: verification ? (v?.mismatched ?? 0) : null,
      duplicates: verification ? (v?.duplicate ?? 0) : null,
    };
  });
  return { entities, verification };
}

export interface ReadinessCheck {
  check: 'full-run' | 'delta-lag' | 'reconciliation' | 'failures';
  ok: boolean;
  /** false for checks that inform without blocking cutover. */
  blocking: boolean;
  detail: string;
  /** The instant the detail refers to, for clients to show in their own time zone. */
  at?: string;
}

export interface Readiness {
  ready: boolean;
  checks: ReadinessCheck[];
}

/** Lag of a delta pass, from its run summary, in seconds (null: the pass carried no change). */
export function lagOf(run: RunInfo): { p50: number; p95: number } | null {
  const lag = run.summary.lag as { p50?: number; p95?: number } | null | undefined;
  if (!lag || typeof lag.p95 !== 'number') return null;
  return { p50: (lag.p50 ?? 0) / 1000, p95: lag.p95 / 1000 };
}

/**
 * Whether it is safe to cut over: the full run finished, a recent delta pass kept the lag under the
 * threshold, and the latest verification after the full run found nothing missing, mismatched or
 * duplicated. Every check says why.
 */
export function readiness(runs: RunInfo[], recon: Reconciliation, options: Readonly<MigrationConfig['dashboard']>, now = Date.now()): Readiness {
  const checks: ReadinessCheck[] = [];
  const byStart = [...runs].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const full = byStart.filter((r) => r.kind === 'full').at(-1);
  if (!full) checks.push({ check: 'full-run', ok: false, blocking: true, detail: 'no full run yet' });
  else if (full.status !== 'succeeded') checks.push({ check: 'full-run', ok: false, blocking: true, detail: `the full run ${full.runId} is ${full.status}` });
  else checks.push({ check: 'full-run', ok: true, blocking: true, detail: `the full run ${full.runId} finished`, at: full.finishedAt ?? undefined });

  const fullDone = full?.status === 'succeeded' && full.finishedAt ? Date.parse(full.finishedAt) : null;
  const delta = byStart.filter((r) => r.kind === 'delta' && r.status === 'succeeded' && fullDone !== null && Date.parse(r.startedAt) >= fullDone).at(-1);
  if (!delta) {
    checks.push({ check: 'delta-lag', ok: false, blocking: true, detail: 'no delta pass has succeeded since the full run' });
  } else {
    const ageSeconds = (now - Date.parse(delta.finishedAt ?? delta.startedAt)) / 1000;
    const lag = lagOf(delta);
    const p95 = lag?.p95 ?? 0;
    if (ageSeconds > options.maxDeltaAgeSeconds) {
      checks.push({ check: 'delta-lag', ok: false, blocking: true, detail: `the latest delta pass ended ${Math.round(ageSeconds / 60)} min ago (limit ${Math.round(options.maxDeltaAgeSeconds / 60)} min): changes since then are not yet on the target` });
    } else if (p95 > options.maxLagSeconds) {
      checks.push({ check: 'delta-lag', ok: false, blocking: true, detail: `delta lag p95 ${p95.toFixed(1)} s is over the ${options.maxLagSeconds} s threshold` });
    } else {
      checks.push({ check: 'delta-lag', ok: true, blocking: true, detail: lag ? `delta lag p95 ${p95.toFixed(1)} s, under ${options.maxLagSeconds} s` : `the latest delta pass (${Math.round(ageSeconds)} s ago) had no new or changed record to write: nothing is waiting` });
    }
  }

  const v = recon.verification;
  if (!v) checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: 'no verification yet' });
  else if (fullDone !== null && Date.parse(v.checkedAt) < fullDone) checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: `the latest verification (${v.verifyId}) is older than the full run` });
  else if (!v.clean) {
    const sum = (k: 'missing' | 'mismatched' | 'duplicates') => recon.entities.reduce((n, e) => n + (e[k] ?? 0), 0);
    checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: `verification ${v.verifyId}: ${sum('missing')} missing, ${sum('mismatched')} mismatched, ${sum('duplicates')} duplicated` });
  } else checks.push({ check: 'reconciliation', ok: true, blocking: true, detail: `verification ${v.verifyId} is clean` });

  // A record that is not on the target in full is not ready, whatever the reason it failed for.
  const failed = recon.entities.reduce((n, e) => n + e.failed, 0);
  checks.push({ check: 'failures', ok: failed === 0, blocking: true, detail: failed === 0 ? 'no failed records' : `${failed} records failed to load; each has its reason under failures` });
  return { ready: checks.every((c) => c.ok || !c.blocking), checks };
}
