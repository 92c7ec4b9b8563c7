import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerQueries } from '../runtime/runtime.ts';
import type { Job } from './migrations.ts';

/** One line of the runs table: a loading run, a verification or an API job that left no ledger run. */
export interface HistoryRun {
  runId: string;
  kind: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  /** From start to finish (to now while running), in seconds. */
  seconds: number | null;
  /** `created`, `updated`, `unchanged`, `failed` for a loading run; `ok`, `missing`, `mismatched`, `duplicates`, `failed` for a verification. */
  counts: Record<string, number>;
  /** The API token that started it, or null for runs the API did not start. */
  startedBy: Job['startedBy'];
}

const seconds = (from: string, to: string | null, now: number) => Math.max(0, Math.round(((to ? Date.parse(to) : now) - Date.parse(from)) / 100) / 10);
const iso = (v: unknown) => new Date(`${String(v).replace(' ', 'T')}Z`).toISOString();

/**
 * Every run in start order: the ledger's runs (whoever started them), its verifications (those of
 * `hdm verify` too), and the API's jobs that recorded neither, each with who started it when the API did.
 */
export async function runHistory(ledger: Ledger & LedgerQueries, jobs: readonly Job[], now = Date.now()): Promise<HistoryRun[]> {
  const starters = new Map<string, Job['startedBy']>();
  const represented = new Set<Job>();
  for (const job of jobs) {
    for (const r of job.ledgerRuns) starters.set(r.runId, job.startedBy ?? null);
    const verifyId = job.result?.verifyId;
    if (typeof verifyId === 'string') starters.set(verifyId, job.startedBy ?? null);
    if (job.verifying) starters.set(job.verifying, job.startedBy ?? null);
    for (const v of job.verifications ?? []) starters.set(v.verifyId, job.startedBy ?? null);
  }
  const runs: HistoryRun[] = [];
  for (const r of await ledger.runs()) {
    const totals = { created: 0, updated: 0, unchanged: 0, failed: 0 };
    for (const c of Object.values((r.summary.counts ?? {}) as Record<string, Partial<typeof totals>>)) {
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += Number(c[k] ?? 0);
    }
    runs.push({ runId: r.runId, kind: r.kind, status: r.status, startedAt: r.startedAt, finishedAt: r.finishedAt, seconds: seconds(r.startedAt, r.finishedAt, now), counts: totals, startedBy: starters.get(r.runId) ?? null });
  }
  const verifications = await ledger.query(
    `SELECT verify_id, min(checked_at) AS started, max(checked_at) AS finished, countIf(status = 'ok') AS ok, countIf(status = 'missing') AS missing,
       countIf(status = 'mismatched') AS mismatched, countIf(status = 'duplicate') AS duplicates, countIf(status = 'failed') AS failed
     FROM verifications WHERE migration = {migration:String} GROUP BY verify_id`,
  );
  for (const v of verifications) {
    const startedAt = iso(v.started);
    const finishedAt = iso(v.finished);
    const counts = { ok: Number(v.ok), missing: Number(v.missing), mismatched: Number(v.mismatched), duplicates: Number(v.duplicates), failed: Number(v.failed) };
    runs.push({ runId: String(v.verify_id), kind: 'verify', status: 'succeeded', startedAt, finishedAt, seconds: seconds(startedAt, finishedAt, now), counts, startedBy: starters.get(String(v.verify_id)) ?? null });
  }
  const known = new Set(runs.map((r) => r.runId));
  for (const job of jobs) {
    const verifyId = job.result?.verifyId;
    if (job.ledgerRuns.some((r) => known.has(r.runId)) || (typeof verifyId === 'string' && known.has(verifyId)) || (job.verifying !== undefined && known.has(job.verifying)) || (job.verifications ?? []).some((v) => known.has(v.verifyId))) represented.add(job);
  }
  // A job that left nothing in the ledger (refused, stopped early, an undo listing, a verification still running) is a run all the same.
  for (const job of jobs) {
    if (represented.has(job)) continue;
    runs.push({ runId: job.jobId, kind: job.kind, status: job.status, startedAt: job.startedAt, finishedAt: job.finishedAt, seconds: seconds(job.startedAt, job.finishedAt, now), counts: {}, startedBy: job.startedBy ?? null });
  }
  runs.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  return runs;
}
