import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger, type ClickHouseLedger } from '../../../services/ledger/clickhouse-ledger.ts';

interface Panel {
  title: string;
  targets: { rawSql: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL('../../../dashboards/grafana/hdm-cutover.json', import.meta.url), 'utf8')) as {
  panels: Panel[];
  templating: { list: { query: string }[] };
};

/** What Grafana's ClickHouse plugin makes of the variables and macros, for a one-day range. */
const expand = (sql: string) =>
  sql
    .replaceAll('${migration:sqlstring}', "'grafana-check'")
    .replace(/\$__timeFilter\(([a-z_]+)\)/g, (_m, column) => `${column} >= now() - INTERVAL 1 DAY AND ${column} <= now() + INTERVAL 1 MINUTE`);

let dir: string;
let ledger: ClickHouseLedger;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-grafana-'));
  ledger = await openLedger({ migration: 'grafana-check', path: join(dir, 'ledger') });
  const at = new Date(Date.now() - 60_000).toISOString();
  await ledger.saveRun({ migration: 'grafana-check', runId: 'full-1', kind: 'full', status: 'succeeded', startedAt: at, finishedAt: at, cutoff: at, summary: {} });
  await ledger.saveRun({
    migration: 'grafana-check',
    runId: 'delta-1',
    kind: 'delta',
    status: 'succeeded',
    startedAt: at,
    finishedAt: new Date().toISOString(),
    cutoff: at,
    summary: { lag: { p50: 1500, p95: 4200, max: 5000, samples: 3 } },
  });
  await ledger.recordSourceSeen('full-1', [
    { entity: 'ticket', sourceId: '1', updatedAt: at, deleted: false },
    { entity: 'ticket', sourceId: '2', updatedAt: at, deleted: false },
  ]);
  const attempt = { runId: 'full-1', entity: 'ticket' as const, rule: null, checksum: null, durationMs: 3 };
  await ledger.recordAttempt({ ...attempt, sourceId: '1', targetId: '11', outcome: 'loaded', action: 'created', errorCode: null, errorMessage: null });
  await ledger.recordAttempt({ ...attempt, sourceId: '2', targetId: null, outcome: 'failed', action: 'none', errorCode: 'REJECTED', errorMessage: 'subject too long' });
  await ledger.recordVerifications([{ verifyId: 'verify-1', entity: 'ticket', sourceId: '1', targetId: '11', status: 'ok', expectedChecksum: 'a', actualChecksum: 'a', detail: '' }]);
  await ledger.flush();
});

afterAll(async () => {
  await ledger?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Grafana dashboard over ClickHouse', () => {
  it('has SQL that runs on the ledger tables and answers from them', async () => {
    const answers = new Map<string, Record<string, unknown>[]>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const rows = await ledger.query(expand(target.rawSql), { readonly: true });
        answers.set(panel.title, rows);
      }
    }
    expect(answers.size).toBe(7);
    expect(answers.get('Reconciliation per entity')).toEqual([{ entity: 'ticket', source: 2, loaded: 1, filtered: 0, failed: 1, not_attempted: 0 }]);
    expect(answers.get('Delta lag p95 per pass (seconds)')![0]).toMatchObject({ lag_p95_seconds: 4.2, lag_p50_seconds: 1.5 });
    expect(answers.get('Latest failures')![0]).toMatchObject({ source_id: '2', error_code: 'REJECTED', error_message: 'subject too long' });
    expect(answers.get('Records loaded per minute')![0]).toMatchObject({ entity: 'ticket', loaded: 1 });
    expect(answers.get('Latest verification')![0]).toMatchObject({ entity: 'ticket', ok: 1, missing: 0 });
    expect(answers.get('Runs')!.map((r) => r.run_id).sort()).toEqual(['delta-1', 'full-1']);
    const variable = await ledger.query(dashboard.templating.list[0].query, { readonly: true });
    expect(variable).toEqual([{ migration: 'grafana-check' }]);
  });
});
