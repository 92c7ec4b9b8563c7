import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/sandbox/server.ts';
import { buildApi, type Api } from '../../../services/api/app.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

// Issue 17, "What the operator must see": health per platform against its limit, why a run waits,
// and progress per entity with totals, pace and the phase the run is in.

let m: MigrationEnv;
let api: Api;
let stateDir: string;
let headers: Record<string, string>;
let name: string;
let hook: Server;
const received: { text: string }[] = [];

const get = async (path: string) => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}${path}`, headers })).json();

async function untilIdle(): Promise<Record<string, unknown>> {
  for (;;) {
    const body = await get('');
    if (!body.activeJob) return body.jobs[0];
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 8, seed: 23, articles: 1, maxComments: 2, immediateExports: 'Deltas read tickets made and edited at the source a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  name = m.config.name as string;
  // A Slack-style incoming webhook: JSON {"text": ...} posted to it.
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const port = (hook.address() as { port: number }).port;
  writeFileSync(m.configFile, stringify({ ...m.config, dashboard: { stallSeconds: 5 }, options: { conflictPolicy: 'report' }, alerts: { webhookUrl: `http://127.0.0.1:${port}/services/T000/B000/secret` } }));
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-operations-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  headers = { authorization: `Bearer ${api.tokens.create('operator', 'night shift').token}` };
});
afterAll(async () => {
  await api?.app.close();
  await m?.close();
  await new Promise((r) => hook?.close(r));
  rmSync(stateDir, { recursive: true, force: true });
});

describe('health and progress through the API', () => {
  it('counts the target\'s 5xx answers and retries against its limit, and shows per entity done / total and the phases', async () => {
    // Freshdesk answers 5xx now and then; the client retries (Freshdesk API v2, "Error Codes": 5xx are server errors).
    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'full' } });
    expect(started.statusCode, started.body).toBe(202);
    await fetch(`${m.target.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, count: 3 }) });
    const job = await untilIdle();
    expect(job).toMatchObject({ kind: 'full', status: 'succeeded', startedBy: { label: 'night shift', role: 'operator' } });

    const health = await get('/health');
    const target = health.sides.find((s: { side: string }) => s.side === 'target');
    expect(target).toMatchObject({ platform: 'freshdesk', limitFrom: 'platform' });
    expect(target.limitPerMinute).toBeGreaterThan(0);
    expect(target.totals.serverErrors).toBeGreaterThanOrEqual(3);
    expect(target.totals.retries).toBeGreaterThanOrEqual(3);
    expect(target.totals.requests).toBeGreaterThan(0);
    expect(health).toMatchObject({ running: false, stall: null, waitingFor: null });

    const progress = await get('/progress');
    const ticket = progress.entities.find((e: { entity: string }) => e.entity === 'ticket');
    expect(ticket).toMatchObject({ state: 'done', done: 8, total: 8, percent: 100, etaSeconds: 0 });
    expect(progress).toMatchObject({ running: false, kind: 'full', phase: 'done' });
    expect(progress.entities.map((e: { entity: string }) => e.entity)).toEqual(expect.arrayContaining(['group', 'agent', 'contact', 'ticket']));
    const dashboard = await get('/dashboard');
    expect(dashboard.health.sides).toHaveLength(2);
    expect(dashboard.runProgress.entities.length).toBe(progress.entities.length);
  }, 120_000);

  it('says the run waits for Freshdesk\'s rate limit and when it resets, instead of showing nothing moving', async () => {
    const source = m.source as ZendeskSandbox;
    for (let i = 0; i < 6; i++) source.createTicket({ subject: `Arrived during the storm ${i}`, status: 'open', comment: { body: 'Hello', public: true } });
    // A plan of 3 requests a minute: the next writes are refused with 429 and Retry-After (Freshdesk API v2, "Rate Limit").
    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'delta' } });
    expect(started.statusCode, started.body).toBe(202);
    await fetch(`${m.target.url}/__sandbox/rate-limit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestsPerMinute: 3 }) });
    let waiting: string | null = null;
    for (let i = 0; i < 600 && !waiting?.includes('rate limit'); i++) {
      const health = await get('/health');
      waiting = health.waitingFor;
      if (!waiting?.includes('rate limit')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(waiting).toMatch(/^waiting for Freshdesk's rate limit \(target\), resets in \d+ s$/);
    const progress = await get('/progress');
    expect(progress).toMatchObject({ running: true, kind: 'delta' });
    // No record moves for longer than dashboard.stallSeconds: the webhook hears why.
    const stalled = () => received.find((m) => m.text.startsWith(`Migration "${name}" stalled: waiting for Freshdesk's rate limit (target), resets in`));
    for (let i = 0; i < 600 && !stalled(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stalled(), JSON.stringify(received)).toBeDefined();
    expect((await get('/health')).stall).toMatchObject({ cause: 'rate-limit' });
    await fetch(`${m.target.url}/__sandbox/rate-limit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestsPerMinute: null }) });
    const stopped = await api.app.inject({ method: 'DELETE', url: `/api/migrations/${name}/runs/active`, headers });
    expect([200, 404]).toContain(stopped.statusCode);
    expect((await get('/health')).waitingFor).toBeNull();
  }, 120_000);

  it('lists failed records grouped by reason with their attempts, exports them as CSV, and retries them for an operator only', async () => {
    const source = m.source as ZendeskSandbox;
    const target = m.target as FreshdeskSandbox;
    const delta = async () => {
      const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'delta' } });
      expect(started.statusCode, started.body).toBe(202);
      return untilIdle();
    };
    expect(await delta()).toMatchObject({ status: 'succeeded' });
    const open = source.createTicket({ subject: 'Edited on both sides', status: 'open', comment: { body: 'Help', public: true } });
    expect(await delta()).toMatchObject({ status: 'succeeded' });
    const ledger = api.registry.get(name).current!.ledger;
    const targetId = (await ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId;
    // The "report" conflict policy fails a record edited on both sides: a failed record with its reason.
    target.updateTicket(Number(targetId), { subject: 'Edited by an agent in the target' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    expect(await delta()).toMatchObject({ status: 'succeeded' });

    const failed = await get('/records/failed');
    expect(failed.byReason).toEqual([{ reason: 'CONFLICT', entity: 'ticket', records: 1 }]);
    expect(failed.records[0]).toMatchObject({ entity: 'ticket', sourceId: String(open.id), targetId, reason: 'CONFLICT' });
    // Both records' links, to the platforms' own pages.
    expect(failed.records[0].sourceUrl).toBe(`${m.source.url}/agent/tickets/${open.id}`);
    expect(failed.records[0].targetUrl).toBe(`${m.target.url}/a/tickets/${targetId}`);
    const attempts = (await ledger.query(`SELECT count() AS n FROM load_attempts WHERE migration = {migration:String} AND entity = 'ticket' AND source_id = {id:String}`, { params: { id: String(open.id) } }))[0].n;
    expect(failed.records[0].attempts).toBe(Number(attempts));
    expect(failed.records[0].attempts).toBeGreaterThanOrEqual(2);
    const csv = await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/records/failed?format=csv`, headers });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body.split('\r\n')[0]).toBe('entity,sourceId,targetId,reason,detail,attempts,lastAttemptAt,sourceUrl,targetUrl');
    expect(csv.body.split('\r\n')[1]).toMatch(new RegExp(`^ticket,${open.id},${targetId},CONFLICT,`));
    for (const status of ['missing', 'mismatched', 'filtered']) expect((await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/records/${status}`, headers })).statusCode).toBe(200);
    expect((await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/records/everything`, headers })).statusCode).toBe(400);

    const viewer = api.tokens.create('viewer', 'reader').token;
    const refused = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/failures/retry`, headers: { authorization: `Bearer ${viewer}` }, payload: {} });
    expect(refused.statusCode).toBe(403);
    const retried = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/failures/retry`, headers, payload: {} });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(await untilIdle()).toMatchObject({ kind: 'repair', status: 'succeeded', startedBy: { label: 'night shift' } });
    expect((await get('/records/failed')).records).toEqual([]);
  }, 180_000);

  it('lists every run, verifications included, with duration, counts and who started it', async () => {
    const { runs } = await get('/runs/history');
    const full = runs.find((r: { kind: string }) => r.kind === 'full');
    expect(full).toMatchObject({ status: 'succeeded', startedBy: { label: 'night shift', role: 'operator' }, counts: { failed: 0 } });
    expect(full.counts.created).toBeGreaterThanOrEqual(8);
    expect(full.seconds).toBeGreaterThanOrEqual(0);
    // The full run's closing verification is a run of its own.
    const verify = runs.find((r: { kind: string }) => r.kind === 'verify');
    expect(verify).toMatchObject({ status: 'succeeded', startedBy: { label: 'night shift' } });
    expect(verify.counts.ok).toBeGreaterThan(0);
    expect(runs.find((r: { kind: string }) => r.kind === 'repair')).toMatchObject({ status: 'succeeded', startedBy: { label: 'night shift' } });
  });
});
