import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../../services/api/migrations.ts';
import { runHistory } from '../../../services/api/run-history.ts';
import { openLedger } from '../../../services/ledger/clickhouse-ledger.ts';

// The runs table names who started each run. A full run's closing verification writes its rows while the
// job is still running: the history must name the job's starter then too, not only once the job's result
// carries the verification's ID (before, it said "outside the API" until the job ended).
const dir = mkdtempSync(join(tmpdir(), 'hdm-run-history-'));
let ledger: Awaited<ReturnType<typeof openLedger>>;

beforeAll(async () => {
  ledger = await openLedger({ migration: 'history', path: dir, flushIntervalMs: 5 });
});
afterAll(async () => {
  await ledger?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('run history', () => {
  it('names the starter of a verification still running, and none for one made outside the API', async () => {
    const row = { entity: 'ticket' as const, sourceId: '1', targetId: '9', status: 'ok' as const, expectedChecksum: 'a', actualChecksum: 'a', detail: '' };
    await ledger.recordVerifications([
      { ...row, verifyId: 'v-api' },
      { ...row, verifyId: 'v-cli', checkedAt: new Date(Date.now() + 1000).toISOString() },
    ]);
    await ledger.flush();
    const operator = { tokenId: 't1', label: 'phone', role: 'operator' };
    const running: Job = {
      jobId: 'j1',
      kind: 'verify',
      status: 'running',
      startedAt: new Date(Date.now() - 5000).toISOString(),
      finishedAt: null,
      options: {},
      ledgerRuns: [],
      result: null,
      error: null,
      startedBy: operator,
      verifying: 'v-api',
    };
    const runs = await runHistory(ledger, [running]);
    expect(runs.filter((r) => r.kind === 'verify').map((r) => [r.runId, r.startedBy])).toEqual([
      ['v-api', operator],
      ['v-cli', null],
    ]);
    // The job is the verification's row, not a second row of its own.
    expect(runs.some((r) => r.runId === 'j1')).toBe(false);
  });
});
