import { describe, expect, it } from 'vitest';
import { readiness, type Reconciliation } from '../../../../services/api/cutover.ts';
import { toCsv } from '../../../../services/api/csv.ts';
import type { RunInfo } from '../../../../services/ledger/ledger.ts';

const NOW = Date.parse('2026-03-02T12:00:00Z');
const options = { timeZones: [], maxLagSeconds: 300, maxDeltaAgeSeconds: 3600, stallSeconds: 15, etaSampleTickets: 20 };
const run = (kind: RunInfo['kind'], status: RunInfo['status'], startedAt: string, finishedAt: string, summary: Record<string, unknown> = {}): RunInfo => ({
  migration: 'm',
  runId: `${kind}-${startedAt}`,
  kind,
  status,
  startedAt,
  finishedAt,
  cutoff: null,
  summary,
});
const recon = (clean: boolean, checkedAt = '2026-03-02T11:50:00Z', failed = 0, accepted = 0, since = { writes: 0, conflicts: 0, lastAt: null as string | null }): Reconciliation => ({
  entities: [{ entity: 'ticket', source: 10, loaded: 10 - failed - accepted, filtered: 0, failed, accepted, notAttempted: 0, missing: clean ? 0 : 2, mismatched: 0, duplicates: 0 }],
  verification: { verifyId: 'verify-1', checkedAt, clean, since },
});
const full = run('full', 'succeeded', '2026-03-02T10:00:00Z', '2026-03-02T11:00:00Z');
const delta = (p95ms: number, finishedAt = '2026-03-02T11:55:00Z') => run('delta', 'succeeded', '2026-03-02T11:54:00Z', finishedAt, { lag: { p50: p95ms / 2, p95: p95ms, max: p95ms, samples: 3 } });
const failing = (r: ReturnType<typeof readiness>) => r.checks.filter((c) => !c.ok).map((c) => c.check);

describe('cutover readiness', () => {
  it('is ready when the full run is done, a recent delta kept lag under the threshold and the verification is clean', () => {
    const r = readiness([full, delta(12_000)], recon(true), options, NOW);
    expect(r.ready).toBe(true);
    expect(r.checks.find((c) => c.check === 'delta-lag')!.detail).toContain('12.0 s');
  });

  it('names each reason it is not', () => {
    expect(failing(readiness([], { entities: [], verification: null }, options, NOW))).toEqual(['full-run', 'delta-lag', 'reconciliation']);
    expect(failing(readiness([run('full', 'interrupted', '2026-03-02T10:00:00Z', '2026-03-02T10:30:00Z')], recon(true), options, NOW))).toContain('full-run');
    const slow = readiness([full, delta(400_000)], recon(true), options, NOW);
    expect(slow.ready).toBe(false);
    expect(slow.checks.find((c) => c.check === 'delta-lag')!.detail).toMatch(/400\.0 s is over the 300 s/);
    const stale = readiness([full, delta(1000, '2026-03-02T10:30:00Z')], recon(true), options, NOW);
    expect(failing(stale)).toEqual(['delta-lag']);
    const dirty = readiness([full, delta(1000)], recon(false), options, NOW);
    expect(dirty.checks.find((c) => c.check === 'reconciliation')!.detail).toContain('2 missing');
    const old = readiness([full, delta(1000)], recon(true, '2026-03-02T10:59:00Z'), options, NOW);
    expect(failing(old)).toEqual(['reconciliation']);
  });

  it('a delta from before the full run finished does not count', () => {
    const early = run('delta', 'succeeded', '2026-03-02T09:00:00Z', '2026-03-02T09:01:00Z');
    expect(failing(readiness([early, full], recon(true), options, NOW))).toContain('delta-lag');
  });

  // Issue: "Ready to cut over" while 11 tickets had failed.
  it('is not ready while records have failed, whatever the verification says', () => {
    const r = readiness([full, delta(1000)], recon(true, undefined, 3), options, NOW);
    expect(r.ready).toBe(false);
    expect(r.checks.find((c) => c.check === 'failures')).toMatchObject({ ok: false, blocking: true, detail: expect.stringContaining('3 records failed') });
  });
});

describe('the verdict after acceptances and target writes', () => {
  it('counts accepted failures apart: ready, and the check says how many were accepted', () => {
    const r = readiness([full, delta(1000)], recon(true, undefined, 0, 2), options, NOW);
    expect(r.ready).toBe(true);
    expect(r.verdict).toBe('ready');
    expect(r.checks.find((c) => c.check === 'failures')!.detail).toBe('no failed records; 2 accepted failures counted apart (who and why under failures)');
  });

  // Issue: a stale verification kept the verdict green after a ticket was deleted and another edited on the target.
  it('turns to "verify again" once anything was written to the target or seen changed there since the verification, and names its age', () => {
    const fresh = readiness([full, delta(1000)], recon(true), options, NOW);
    expect(fresh.verification).toEqual({ verifyId: 'verify-1', checkedAt: '2026-03-02T11:50:00Z', ageSeconds: 600, stale: false });
    expect(fresh.checks.find((c) => c.check === 'reconciliation')!.detail).toBe('verification verify-1 is clean (10 min old, nothing written to the target since)');
    const written = readiness([full, delta(1000)], recon(true, undefined, 0, 0, { writes: 3, conflicts: 0, lastAt: '2026-03-02T11:55:00Z' }), options, NOW);
    expect(written).toMatchObject({ ready: false, verdict: 'verify-again', verification: { stale: true } });
    expect(written.checks.find((c) => c.check === 'reconciliation')!.detail).toBe('verify again: 3 records written to the target since verification verify-1 (10 min old)');
    const conflict = readiness([full, delta(1000)], recon(true, undefined, 0, 0, { writes: 0, conflicts: 1, lastAt: '2026-03-02T11:55:00Z' }), options, NOW);
    expect(conflict.verdict).toBe('verify-again');
    expect(conflict.checks.find((c) => c.check === 'reconciliation')!.detail).toContain('1 record seen changed on the target by a delta');
  });
});

describe('toCsv', () => {
  it('quotes separators and quotes, and defuses spreadsheet formulas', () => {
    const csv = toCsv(['a', 'b', 'c'], [{ a: 'x,y', b: 'say "hi"', c: '=HYPERLINK("http://evil")' }, { a: -3, b: null, c: 'line\nbreak' }]);
    expect(csv).toBe('a,b,c\r\n"x,y","say ""hi""","\'=HYPERLINK(""http://evil"")"\r\n-3,,"line\nbreak"\r\n');
  });
});
