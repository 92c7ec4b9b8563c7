import { mkdtempSync, rmSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../../services/api/app.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';
import { runToEnd } from '../../helpers/api-runs.ts';

// The demo and undo run kinds, started through the API against real sandboxes.
let m: MigrationEnv;
let api: Api;
let stateDir: string;
let name: string;
let operator: string;

async function run(kind: string, options: Record<string, unknown>): Promise<{ status: string; result: Record<string, unknown>; error?: unknown }> {
  return runToEnd(api.app, name, { authorization: `Bearer ${operator}` }, kind, options, 90_000) as Promise<{ status: string; result: Record<string, unknown>; error?: unknown }>;
}

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 12, seed: 73, articles: 2, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  name = m.config.name as string;
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-demo-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  operator = api.tokens.create('operator', 'test operator').token;
});

afterAll(async () => {
  await api?.app.close();
  await m?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('demo and undo through the API', () => {
  it('runs a demo of three tickets, then undoes it: a dry run first, then for real', async () => {
    const demo = await run('demo', { count: 3 });
    expect(demo.status, JSON.stringify(demo.error)).toBe('succeeded');
    const records = demo.result.records as { entity: string; outcome: string; targetId: string | null }[];
    const tickets = records.filter((r) => r.entity === 'ticket');
    expect(tickets).toHaveLength(3);
    for (const t of tickets) expect(t).toMatchObject({ outcome: 'loaded', targetId: expect.any(String) });
    expect(existsSync((demo.result.files as { html: string }).html)).toBe(true);
    expect(m.target.counts().ticket).toBe(3);
    const runId = demo.result.runId as string;

    const dry = await run('undo', { runId });
    expect(dry.status).toBe('succeeded');
    expect(dry.result).toMatchObject({ dryRun: true, undoRunId: null });
    expect(m.target.counts().ticket).toBe(3);

    const undo = await run('undo', { runId, yes: true });
    expect(undo.status, JSON.stringify(undo.error)).toBe('succeeded');
    expect(undo.result).toMatchObject({ dryRun: false, totals: { failed: 0 } });
    expect((undo.result.totals as { deleted: number }).deleted).toBeGreaterThanOrEqual(3);
    expect(m.target.counts().ticket).toBe(0);
  });
});
