import type { FailureAcceptance, Ledger, RunInfo, TargetWrites } from '../ledger/ledger.ts';
import type { LedgerQueries } from '../runtime/runtime.ts';
import type { MigrationConfig } from '../../schemas/config.ts';
import { LOAD_ORDER } from '../../schemas/canonical.ts';

export interface EntityRow {
  entity: string;
  /** Records at the source (seen by a run, not deleted). */
  source: number;
  loaded: number;
  filtered: number;
  /** Records whose latest load failed, but for accepted failures. */
  failed: number;
  /** Failed records an operator accepted (who and why under `acceptances`): counted apart, not blocking. */
  accepted: number;
  notAttempted: number;
  /** From the latest verification; null before any. Accepted failures left out. */
  missing: number | null;
  mismatched: number | null;
  duplicates: number | null;
}

export interface Verification {
  verifyId: string;
  checkedAt: string;
  clean: boolean;
  /** Written to the target (and conflicts a delta saw there) since this verification: it is stale once either is not 0. */
  since?: TargetWrites;
}

export interface Reconciliation {
  entities: EntityRow[];
  verification: Verification | null;
  /** Failures in force that an operator accepted, with who and why. */
  acceptances?: FailureAcceptance[];
}

/** Whether the target changed since the verification: its verdict no longer describes the target. */
export const isStale = (v: Verification): boolean => (v.since?.writes ?? 0) + (v.since?.conflicts ?? 0) > 0;

/** An age in words: 45 s, 12 min, 3 h 5 min, 2 d 4 h. */
export function ageText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

const iso = (ch: string) => (ch.includes('T') ? ch : `${ch.replace(' ', 'T')}Z`);

/**
 * Per entity: the ledger's counts with the latest verification's missing, mismatched and duplicated,
 * failures an operator accepted counted apart, and what was written to the target since that verification.
 */
export async function reconciliation(ledger: Ledger & LedgerQueries): Promise<Reconciliation> {
  const summary = await ledger.summary();
  const acceptances = (await ledger.acceptances()).filter((a) => a.failing).map(({ failing: _, ...a }) => a);
  const acceptedKey = new Set(acceptances.map((a) => `${a.entity}\u0000${a.sourceId}`));
  const acceptedPer = new Map<string, number>();
  for (const a of acceptances) acceptedPer.set(a.entity, (acceptedPer.get(a.entity) ?? 0) + 1);
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
    // A failure accepted after the verification no longer counts against it, partly written or not.
    if (acceptedKey.size) {
      const judged = await ledger.query(
        `SELECT entity, source_id, status FROM verifications WHERE migration = {migration:String} AND verify_id = {verifyId:String} AND status IN ('failed', 'mismatched')`,
        { params: { verifyId } },
      );
      for (const r of judged) {
        if (!acceptedKey.has(`${String(r.entity)}\u0000${String(r.source_id)}`)) continue;
        const e = verified.get(String(r.entity))!;
        e[String(r.status)] -= 1;
      }
    }
    const bad = [...verified.values()].some((e) => (e.missing ?? 0) + (e.mismatched ?? 0) + (e.duplicate ?? 0) + (e.failed ?? 0) > 0);
    const checkedAt = iso(String(latest[0].last_checked));
    verification = { verifyId, checkedAt, clean: !bad, since: await ledger.targetWritesSince(checkedAt) };
  }
  const order = (e: string) => (LOAD_ORDER as readonly string[]).indexOf(e) >>> 0;
  const names = [...new Set([...Object.keys(summary), ...verified.keys()])].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const entities: EntityRow[] = names.map((entity) => {
    const s = summary[entity] ?? { source: 0, loaded: 0, filtered: 0, failed: 0, notAttempted: 0 };
    const v = verified.get(entity);
    const accepted = Math.min(acceptedPer.get(entity) ?? 0, s.failed);
    return {
      entity,
      source: s.source,
      loaded: s.loaded,
      filtered: s.filtered,
      failed: s.failed - accepted,
      accepted,
      notAttempted: s.notAttempted,
      missing: verification ? (v?.missing ?? 0) : null,
      mismatched: verification ? (v?.mismatched ?? 0) : null,
      duplicates: verification ? (v?.duplicate ?? 0) : null,
    };
  });
  return { entities, verification, acceptances };
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
  /** `verify-again`: the target was written to (or seen changed) since the latest verification. */
  verdict: 'ready' | 'not-ready' | 'verify-again';
  /** The latest verification, its age at the time of the answer and whether it is stale. */
  verification: { verifyId: string; checkedAt: string; ageSeconds: number; stale: boolean } | null;
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
  const age = v ? ageText((now - Date.parse(v.checkedAt)) / 1000) : '';
  const stale = v !== null && isStale(v);
  if (!v) checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: 'no verification yet' });
  else if (fullDone !== null && Date.parse(v.checkedAt) < fullDone) checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: `the latest verification (${v.verifyId}) is older than the full run: verify again` });
  else if (stale) {
    // Whatever it found, the verification no longer describes the target: something was written there since.
    const { writes, conflicts } = v.since!;
    const what = [writes ? `${writes} record${writes === 1 ? '' : 's'} written to the target` : '', conflicts ? `${conflicts} record${conflicts === 1 ? '' : 's'} seen changed on the target by a delta` : '']
      .filter(Boolean)
      .join(' and ');
    checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: `verify again: ${what} since verification ${v.verifyId} (${age} old)`, at: v.checkedAt });
  } else if (!v.clean) {
    const sum = (k: 'missing' | 'mismatched' | 'duplicates') => recon.entities.reduce((n, e) => n + (e[k] ?? 0), 0);
    checks.push({ check: 'reconciliation', ok: false, blocking: true, detail: `verification ${v.verifyId} (${age} old): ${sum('missing')} missing, ${sum('mismatched')} mismatched, ${sum('duplicates')} duplicated`, at: v.checkedAt });
  } else checks.push({ check: 'reconciliation', ok: true, blocking: true, detail: `verification ${v.verifyId} is clean (${age} old, nothing written to the target since)`, at: v.checkedAt });

  // A record that is not on the target in full is not ready, whatever the reason it failed for, unless an operator accepted it.
  const failed = recon.entities.reduce((n, e) => n + e.failed, 0);
  const accepted = recon.entities.reduce((n, e) => n + (e.accepted ?? 0), 0);
  const apart = accepted ? `; ${accepted} accepted failure${accepted === 1 ? '' : 's'} counted apart (who and why under failures)` : '';
  checks.push({
    check: 'failures',
    ok: failed === 0,
    blocking: true,
    detail: (failed === 0 ? 'no failed records' : `${failed} records failed to load; each has its reason under failures`) + apart,
  });
  const ready = checks.every((c) => c.ok || !c.blocking);
  return {
    ready,
    verdict: ready ? 'ready' : stale ? 'verify-again' : 'not-ready',
    verification: v ? { verifyId: v.verifyId, checkedAt: v.checkedAt, ageSeconds: Math.max(0, Math.round((now - Date.parse(v.checkedAt)) / 1000)), stale } : null,
    checks,
  };
}
