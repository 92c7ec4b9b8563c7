import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../../services/api/app.ts';
import type { Role } from '../../../services/api/tokens.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

let m: MigrationEnv;
let api: Api;
let stateDir: string;
const token: Record<Role, string> = { viewer: '', operator: '', admin: '' };
let name: string;

const auth = (role: Role) => ({ authorization: `Bearer ${token[role]}` });

async function waitForIdle(role: Role = 'viewer', timeoutMs = 90_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}`, headers: auth(role) });
    const body = res.json();
    if (!body.activeJob) return body.jobs[0];
    if (Date.now() > deadline) throw new Error('run did not end');
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 25, seed: 71, articles: 2, maxComments: 3, immediateExports: 'The delta run reads a ticket made at the source a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  name = m.config.name as string;
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  for (const role of ['viewer', 'operator', 'admin'] as const) token[role] = api.tokens.create(role, `test ${role}`).token;
});

afterAll(async () => {
  await api?.app.close();
  await m?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('authentication and roles', () => {
  it('answers 401 without detail to a missing, malformed, unknown or wrong token', async () => {
    const [id] = token.viewer.split('_').slice(1, 2);
    const wrongSecret = `hdm_${id}_${'A'.repeat(43)}`;
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer nope' }, { authorization: `Bearer ${wrongSecret}` }, { authorization: `Bearer hdm_000000000000_${'B'.repeat(43)}` }]) {
      for (const url of ['/api/migrations', '/metrics', `/api/migrations/${name}/summary`, '/api/no-such-route']) {
        const res = await api.app.inject({ method: 'GET', url, headers });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'unauthorized' } });
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    }
  });

  it('stores tokens hashed: the token file never holds a secret', () => {
    const file = readFileSync(join(stateDir, 'tokens.json'), 'utf8');
    for (const t of Object.values(token)) {
      expect(file).not.toContain(t.slice('hdm_'.length + 13));
      expect(file).toContain(t.split('_')[1]);
    }
  });

  it('lets each role do what its rank allows and answers 403 without detail otherwise', async () => {
    const cases: { method: 'GET' | 'POST' | 'DELETE'; url: string; need: Role; payload?: unknown }[] = [
      { method: 'GET', url: '/api/migrations', need: 'viewer' },
      { method: 'GET', url: '/api/me', need: 'viewer' },
      { method: 'GET', url: '/api/run-kinds', need: 'viewer' },
      { method: 'GET', url: '/api/queries', need: 'viewer' },
      { method: 'GET', url: '/api/tokens', need: 'admin' },
      { method: 'POST', url: '/api/tokens', need: 'admin', payload: { role: 'viewer', label: 'made in a test' } },
      { method: 'POST', url: `/api/migrations/${name}/runs`, need: 'operator', payload: { kind: 'undo' } },
      { method: 'POST', url: '/api/migrations', need: 'admin', payload: { yaml: 'name: [' } },
    ];
    for (const c of cases) {
      for (const role of ['viewer', 'operator', 'admin'] as const) {
        const res = await api.app.inject({ method: c.method, url: c.url, headers: auth(role), payload: c.payload as object });
        const allowed = ['viewer', 'operator', 'admin'].indexOf(role) >= ['viewer', 'operator', 'admin'].indexOf(c.need);
        if (allowed) expect(res.statusCode, `${role} ${c.method} ${c.url}`).not.toBe(403);
        else {
          expect(res.statusCode, `${role} ${c.method} ${c.url}`).toBe(403);
          expect(res.json()).toEqual({ error: { code: 'FORBIDDEN', message: 'forbidden' } });
        }
      }
    }
    expect((await api.app.inject({ method: 'GET', url: '/api/me', headers: auth('operator') })).json()).toMatchObject({ role: 'operator' });
  });

  it('creates, lists and revokes tokens through the API; a revoked token is refused', async () => {
    const created = await api.app.inject({ method: 'POST', url: '/api/tokens', headers: auth('admin'), payload: { role: 'operator', label: 'ci' } });
    expect(created.statusCode).toBe(201);
    const { token: fresh, id } = created.json();
    expect((await api.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${fresh}` } })).json()).toMatchObject({ id, role: 'operator' });
    const list = (await api.app.inject({ method: 'GET', url: '/api/tokens', headers: auth('admin') })).json().tokens;
    expect(list.find((t: { id: string }) => t.id === id)).toMatchObject({ role: 'operator', label: 'ci' });
    expect(JSON.stringify(list)).not.toContain(fresh.slice('hdm_'.length + 13));
    expect((await api.app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers: auth('admin') })).statusCode).toBe(200);
    expect((await api.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${fresh}` } })).statusCode).toBe(401);
    expect((await api.app.inject({ method: 'DELETE', url: `/api/tokens/${id}`, headers: auth('admin') })).statusCode).toBe(404);
  });
});

describe('bad input', () => {
  const bad: { method: 'GET' | 'POST' | 'DELETE'; url: string; role: Role; payload?: unknown; headers?: Record<string, string>; status: number; code: string; mentions?: string }[] = [];
  beforeAll(() => {
    bad.push(
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'demo', options: { count: -1 } }, status: 400, code: 'BAD_REQUEST', mentions: 'demo' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'demo', options: { tickets: [] } }, status: 400, code: 'BAD_REQUEST', mentions: 'demo' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'undo' }, status: 400, code: 'BAD_REQUEST', mentions: 'undo' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'bogus' }, status: 400, code: 'BAD_REQUEST', mentions: 'unknown run kind' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'FULL; drop' }, status: 400, code: 'BAD_REQUEST', mentions: 'kind' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'full', extra: 1 }, status: 400, code: 'BAD_REQUEST' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'delta', options: { intervalSeconds: 'soon' } }, status: 400, code: 'BAD_REQUEST', mentions: 'delta' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: { kind: 'full', options: { restrat: true } }, status: 400, code: 'BAD_REQUEST' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: '{"kind": ', headers: { 'content-type': 'application/json' }, status: 400, code: 'BAD_REQUEST' },
      { method: 'POST', url: `/api/migrations/${name}/runs`, role: 'operator', payload: 'kind=full', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'BAD_REQUEST' },
      { method: 'POST', url: '/api/migrations/nope/runs', role: 'operator', payload: { kind: 'full' }, status: 404, code: 'NOT_FOUND', mentions: 'nope' },
      { method: 'GET', url: '/api/migrations/..%2Fetc/summary', role: 'viewer', status: 400, code: 'BAD_REQUEST', mentions: 'name' },
      { method: 'GET', url: `/api/migrations/${name}/failures?limit=0`, role: 'viewer', status: 400, code: 'BAD_REQUEST', mentions: 'limit' },
      { method: 'GET', url: `/api/migrations/${name}/failures?limit=ten`, role: 'viewer', status: 400, code: 'BAD_REQUEST' },
      { method: 'GET', url: `/api/migrations/${name}/report?format=xml`, role: 'viewer', status: 400, code: 'BAD_REQUEST', mentions: 'format' },
      { method: 'POST', url: `/api/migrations/${name}/queries/none`, role: 'viewer', status: 404, code: 'NOT_FOUND' },
      { method: 'POST', url: `/api/migrations/${name}/queries/..%2F..%2Fetc`, role: 'viewer', status: 400, code: 'BAD_REQUEST' },
      { method: 'DELETE', url: `/api/migrations/${name}/runs/active`, role: 'operator', status: 404, code: 'NOT_FOUND' },
      { method: 'POST', url: '/api/tokens', role: 'admin', payload: { role: 'root' }, status: 400, code: 'BAD_REQUEST', mentions: 'role' },
      { method: 'DELETE', url: '/api/tokens/xyz', role: 'admin', status: 400, code: 'BAD_REQUEST' },
      { method: 'POST', url: '/api/migrations', role: 'admin', payload: 'name: [unclosed', headers: { 'content-type': 'application/yaml' }, status: 400, code: 'CONFIG_INVALID', mentions: 'YAML' },
      { method: 'POST', url: '/api/migrations', role: 'admin', payload: { yaml: 'name: x\nsource: {platform: jira, url: "http://x"}' }, status: 400, code: 'CONFIG_INVALID', mentions: 'source.platform' },
      { method: 'POST', url: '/api/migrations', role: 'admin', payload: { path: '/etc/passwd' }, status: 400, code: 'BAD_REQUEST', mentions: '.yaml' },
      { method: 'POST', url: '/api/migrations', role: 'admin', payload: { path: '/nonexistent/m.yaml' }, status: 400, code: 'CONFIG_INVALID', mentions: 'cannot read' },
      { method: 'POST', url: '/api/migrations', role: 'admin', payload: { yaml: stringify({ name: 'e2e-zendesk-freshdesk', source: { platform: 'zendesk', url: 'http://127.0.0.1:1' }, target: { platform: 'freshdesk', url: 'http://127.0.0.1:1' } }) }, status: 409, code: 'CONFLICT', mentions: 'already' },
    );
  });

  it('answers each with its status, a fixed code and a message naming what is wrong, never a stack', async () => {
    expect(bad.length).toBeGreaterThan(20);
    for (const b of bad) {
      const res = await api.app.inject({ method: b.method, url: b.url, headers: { ...auth(b.role), ...b.headers }, payload: b.payload as string });
      const where = `${b.method} ${b.url} ${JSON.stringify(b.payload)}`;
      expect(res.statusCode, `${where}: ${res.body}`).toBe(b.status);
      const body = res.json();
      expect(body.error.code, where).toBe(b.code);
      if (b.mentions) expect(body.error.message, where).toContain(b.mentions);
      expect(res.body).not.toMatch(/\bat .*\.ts:\d+|node:internal|stack/);
    }
  });
});

describe('a migration driven through the API', () => {
  it('tests connections, runs full and delta, and reports a clean, ready cutover', async () => {
    const test = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/connections/test`, headers: auth('operator') });
    expect(test.statusCode).toBe(200);
    expect(test.json()).toMatchObject({ ok: true, source: { ok: true, platform: 'zendesk' }, target: { ok: true, platform: 'freshdesk' } });

    const before = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers: auth('viewer') })).json();
    expect(before.readiness.ready).toBe(false);
    expect(before.readiness.checks.find((c: { check: string }) => c.check === 'full-run')).toMatchObject({ ok: false, detail: 'no full run yet' });

    const early = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'delta' } });
    expect(early.statusCode).toBe(409);
    expect(early.json().error).toEqual({ code: 'NOT_READY', message: 'no full run yet: start a full run first' });

    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'full' } });
    expect(started.statusCode).toBe(202);
    expect(started.json().job).toMatchObject({ kind: 'full', status: 'running' });
    const again = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'delta' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('RUN_ACTIVE');
    const fullJob = await waitForIdle();
    expect(fullJob, JSON.stringify(fullJob)).toMatchObject({ kind: 'full', status: 'succeeded', result: { clean: true } });

    const mid = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers: auth('viewer') })).json();
    const ticket = mid.reconciliation.entities.find((e: { entity: string }) => e.entity === 'ticket');
    expect(ticket).toMatchObject({ source: m.source.counts().ticket, loaded: m.source.counts().ticket, missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
    const checks = Object.fromEntries(mid.readiness.checks.map((c: { check: string; ok: boolean }) => [c.check, c.ok]));
    expect(checks).toMatchObject({ 'full-run': true, 'delta-lag': false, reconciliation: true });
    expect(mid.readiness.ready).toBe(false);

    // A ticket changed at the source reaches the target through a delta pass started by the API.
    const changed = await fetch(`${m.source.url}/__sandbox/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'opened after the full run', comment: { body: 'hello', public: true } }),
    });
    expect(changed.ok).toBe(true);
    expect((await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'delta' } })).statusCode).toBe(202);
    const deltaJob = await waitForIdle();
    expect(deltaJob).toMatchObject({ kind: 'delta', status: 'succeeded' });
    expect((deltaJob.ledgerRuns as unknown[]).length).toBe(1);
    expect((await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'verify', options: { sourceScan: true } } })).statusCode).toBe(202);
    expect(await waitForIdle()).toMatchObject({ kind: 'verify', status: 'succeeded', result: { clean: true } });

    const after = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers: auth('viewer') })).json();
    expect(after.readiness.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(after.readiness.ready).toBe(true);
    expect(after.reconciliation.entities.find((e: { entity: string }) => e.entity === 'ticket').source).toBe(m.source.counts().ticket);

    const runs = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/runs`, headers: auth('viewer') })).json();
    expect(runs.runs.map((r: { kind: string }) => r.kind)).toEqual(['full', 'delta']);

    const dash = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/dashboard`, headers: auth('viewer') })).json();
    expect(dash.lag).toHaveLength(1);
    expect(dash.readiness.ready).toBe(true);
    expect(dash.progress.total.ticket.loaded).toBeGreaterThanOrEqual(m.source.counts().ticket);
    expect(dash.throughput.length).toBeGreaterThan(0);
  });

  it('downloads reports as JSON and CSV', async () => {
    const json = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/report`, headers: auth('viewer') });
    expect(json.statusCode).toBe(200);
    expect(json.headers['content-disposition']).toMatch(/attachment; filename=".*-report-.*\.json"/);
    const report = json.json();
    expect(report, JSON.stringify(report.readiness)).toMatchObject({ migration: name, readiness: { ready: true }, failures: [] });
    expect(report.entities.find((e: { entity: string }) => e.entity === 'ticket').loaded).toBe(m.source.counts().ticket);

    const csv = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/report?format=csv&part=entities`, headers: auth('viewer') });
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe('entity,source,loaded,missing,mismatched,duplicates,failed,accepted,filtered,notAttempted');
    const row = lines.find((l) => l.startsWith('ticket,'))!.split(',');
    expect(Number(row[1])).toBe(m.source.counts().ticket);
    expect(row.slice(3, 6)).toEqual(['0', '0', '0']);
    const runsCsv = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/report?format=csv&part=runs`, headers: auth('viewer') });
    expect(runsCsv.body.split('\r\n').filter((l) => /^(full|delta)-/.test(l))).toHaveLength(2);
  });

  it('runs every saved query read-only for a viewer', async () => {
    const list = (await api.app.inject({ method: 'GET', url: '/api/queries', headers: auth('viewer') })).json().queries;
    expect(list.length).toBeGreaterThanOrEqual(5);
    for (const q of list) {
      const res = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/queries/${q.id}`, headers: auth('viewer') });
      expect(res.statusCode, `${q.id}: ${res.body}`).toBe(200);
    }
    const recon = (await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/queries/reconciliation`, headers: auth('viewer') })).json();
    expect(recon.rows.find((r: { entity: string }) => r.entity === 'ticket')).toMatchObject({ source: m.source.counts().ticket });
    // The engine itself refuses writes in the mode saved queries run in.
    const ledger = api.registry.get(name).current!.ledger;
    await expect(ledger.query('CREATE TABLE scratch_by_viewer (a UInt8) ENGINE = Memory', { readonly: true })).rejects.toThrow(/readonly/i);
    await expect(ledger.query("ALTER TABLE runs DELETE WHERE migration = {migration:String}", { readonly: true })).rejects.toThrow(/readonly/i);
    await expect(ledger.query("SELECT 1 INTO OUTFILE 'x.csv'", { readonly: true })).rejects.toThrow(/readonly/i);
    expect((await ledger.runs()).length).toBe(2);
    // …and refusing them leaves the ledger writable for the runs that follow.
    await ledger.recordAttempt({ runId: 'probe', entity: 'group', sourceId: 'probe', targetId: null, outcome: 'filtered', action: 'skipped', rule: 'probe', errorCode: null, errorMessage: null, checksum: null, durationMs: 0 });
    await ledger.flush();
    expect(await ledger.query(`SELECT count() AS n FROM load_attempts WHERE run_id = 'probe'`, { readonly: true })).toEqual([{ n: 1 }]);
  });

  it('exposes Prometheus metrics per entity and per platform', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/metrics', headers: auth('viewer') });
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    expect(value(new RegExp(`hdm_records_total\\{migration="${name}",entity="ticket",stage="loaded"\\} (\\d+)`))).toBeGreaterThanOrEqual(m.source.counts().ticket);
    expect(value(new RegExp(`hdm_records_total\\{migration="${name}",entity="ticket",stage="mapped"\\} (\\d+)`))).toBeGreaterThanOrEqual(m.source.counts().ticket);
    expect(value(new RegExp(`hdm_records_read_total\\{migration="${name}",entity="ticket"\\} (\\d+)`))).toBeGreaterThan(m.source.counts().ticket);
    expect(value(new RegExp(`hdm_http_requests_total\\{migration="${name}",side="source",platform="zendesk"\\} (\\d+)`))).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`hdm_http_rate_limited_total\\{migration="${name}",side="target",platform="freshdesk"\\} \\d+`));
    expect(text).toMatch(new RegExp(`hdm_delta_lag_seconds\\{migration="${name}",quantile="0.95"\\} [\\d.]+`));
    expect(text).toMatch(/# TYPE hdm_records_total counter/);
  });
});

describe('a followed delta', () => {
  it('runs passes until an operator stops it, each pass its own ledger run', async () => {
    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'delta', options: { follow: true, intervalSeconds: 1 } } });
    expect(started.statusCode).toBe(202);
    const deadline = Date.now() + 60_000;
    let job: { ledgerRuns: unknown[] } = { ledgerRuns: [] };
    while (job.ledgerRuns.length < 2) {
      if (Date.now() > deadline) throw new Error(`no second pass: ${JSON.stringify(job)} ${readFileSync(join(m.config.stateDir as string, 'hdm.log'), 'utf8').split('\n').filter((l) => l.includes('api run')).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
      job = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}`, headers: auth('viewer') })).json().jobs[0];
    }
    expect((await api.app.inject({ method: 'DELETE', url: `/api/migrations/${name}/runs/active`, headers: auth('viewer') })).statusCode).toBe(403);
    const stopped = await api.app.inject({ method: 'DELETE', url: `/api/migrations/${name}/runs/active`, headers: auth('operator') });
    expect(stopped.statusCode).toBe(200);
    expect(stopped.json().job).toMatchObject({ kind: 'delta', status: 'interrupted', finishedAt: expect.any(String) });
    const passes = stopped.json().job.ledgerRuns.length;
    expect(passes).toBeGreaterThanOrEqual(2);
    const runs = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/runs`, headers: auth('viewer') })).json().runs;
    expect(runs.filter((r: { kind: string }) => r.kind === 'delta').length).toBeGreaterThanOrEqual(1 + passes);
    expect((await api.app.inject({ method: 'GET', url: `/api/migrations/${name}`, headers: auth('viewer') })).json().activeJob).toBeNull();
  });
});

describe('migrations created through the API', () => {
  it('reports refused credentials and missing variables by name, never by value', async () => {
    const secret = 'wrong-token-7c1f9a3e5b';
    m.env.HDM_TEST_WRONG_TOKEN = secret;
    const yaml = stringify({
      name: 'wrong-credentials',
      source: { platform: 'zendesk', url: m.source.url, credentials: { email: { env: 'ZENDESK_EMAIL' }, apiToken: { env: 'HDM_TEST_WRONG_TOKEN' } } },
      target: { platform: 'freshdesk', url: m.target.url },
      stateDir: join(stateDir, 'wrong-credentials'),
    });
    const created = await api.app.inject({ method: 'POST', url: '/api/migrations', headers: { ...auth('admin'), 'content-type': 'application/yaml' }, payload: yaml });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ name: 'wrong-credentials', origin: 'api', source: { platform: 'zendesk' } });
    const listed = (await api.app.inject({ method: 'GET', url: '/api/migrations', headers: auth('viewer') })).json();
    expect(listed.migrations.map((x: { name: string }) => x.name)).toEqual([name, 'wrong-credentials']);

    const test = await api.app.inject({ method: 'POST', url: '/api/migrations/wrong-credentials/connections/test', headers: auth('operator') });
    expect(test.statusCode).toBe(200);
    expect(test.json()).toMatchObject({ ok: false, source: { ok: false, error: { code: 'AUTH_FAILED' } }, target: { ok: true } });
    expect(test.json().source.error.message).toContain('refused');
    expect(test.body).not.toContain(secret);

    // One embedded ledger per process: a migration that is running keeps it, an idle one yields it.
    expect((await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'verify', options: { sourceScan: false } } })).statusCode).toBe(202);
    const busy = await api.app.inject({ method: 'POST', url: '/api/migrations/wrong-credentials/connections/test', headers: auth('operator') });
    expect(busy.statusCode).toBe(409);
    expect(busy.json().error).toMatchObject({ code: 'LEDGER_BUSY', message: expect.stringContaining(`"${name}" is running`) });
    await waitForIdle();
    expect((await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers: auth('viewer') })).json().readiness.ready).toBe(true);

    const missing = stringify({ name: 'missing-variable', source: { platform: 'zendesk', url: m.source.url, credentials: { apiToken: { env: 'HDM_TEST_NOT_SET' } } }, target: { platform: 'freshdesk', url: m.target.url }, stateDir: join(stateDir, 'missing-variable') });
    expect((await api.app.inject({ method: 'POST', url: '/api/migrations', headers: auth('admin'), payload: { yaml: missing } })).statusCode).toBe(201);
    const refused = await api.app.inject({ method: 'POST', url: '/api/migrations/missing-variable/runs', headers: auth('operator'), payload: { kind: 'full' } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('HDM_TEST_NOT_SET') });
  });

  // Issue: a stop closes its runtime as it ends; the dashboard's next request, for another migration on its own
  // embedded ledger, opened that ledger while the stopped one was still closing (two engines in one process).
  it('opens another embedded ledger only once a closing runtime has let go of its own', async () => {
    const first = api.registry.get(name);
    const second = api.registry.get('wrong-credentials');
    await first.open();
    const order: string[] = [];
    const closing = first.closeRuntime().then(() => order.push('first closed'));
    // A second close (a stop and a make-room at once) waits for the close under way.
    const again = first.closeRuntime().then(() => order.push('first closed, seen again'));
    await second.open().then(() => order.push('second opened'));
    await Promise.all([closing, again]);
    expect(order).toEqual(['first closed', 'first closed, seen again', 'second opened']);
    await second.closeRuntime();
  });
});

describe('server-sent events', () => {
  it('streams progress and job events to a viewer over a real connection', async () => {
    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const controller = new AbortController();
    const res = await fetch(`${url}/api/migrations/${name}/events`, { headers: auth('viewer'), signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const seen: string[] = [];
    const reading = (async () => {
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += new TextDecoder().decode(value);
        for (const m of buffer.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)) seen.push(`${m[1]}:${JSON.parse(m[2]).kind ?? ''}`);
        buffer = buffer.slice(buffer.lastIndexOf('\n\n') + 2);
        if (seen.some((s) => s === 'job:verify') && seen.filter((s) => s === 'job:verify').length >= 2) return;
      }
    })();
    expect((await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: auth('operator'), payload: { kind: 'verify', options: { sourceScan: false } } })).statusCode).toBe(202);
    await waitForIdle();
    await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
    controller.abort();
    expect(seen[0]).toBe('progress:');
    expect(seen.filter((s) => s === 'job:verify')).toHaveLength(2);
    expect(seen).toContain('summary:');
  });
});
