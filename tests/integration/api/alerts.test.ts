import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { buildApi, type Api } from '../../../services/api/app.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';
import { runToEnd } from '../../helpers/api-runs.ts';

// Issue 17, "Alerts": the verdict changes → an optional webhook (Slack-compatible JSON) configured in
// the migration file. A real HTTP server stands in for Slack's incoming webhook, which takes a POST of
// `{"text": "..."}` as application/json (Slack API docs, "Sending messages using incoming webhooks").

let m: MigrationEnv;
let api: Api;
let stateDir: string;
let headers: Record<string, string>;
let name: string;
let hook: Server;
const received: { method: string; path: string; headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];

async function run(kind: string, options: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return runToEnd(api.app, name, headers, kind, options);
}
const post = async (path: string, payload: unknown) => {
  const res = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}${path}`, headers, payload: payload as Record<string, unknown> });
  expect(res.statusCode, res.body).toBe(200);
};
const verdict = async () => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers })).json().readiness.verdict as string;
/** The verdict messages the webhook received, as [now, was]. */
const verdictPosts = () =>
  received
    .map((r) => /^Migration "[^"]+": (.+) \(was (.+)\)$/.exec(String(r.body.text)))
    .filter((x): x is RegExpExecArray => x !== null)
    .map((x) => [x[1], x[2]]);
const idle = () => (api.registry.get(name) as unknown as { alerts: { idle(): Promise<void> } }).alerts.idle();

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method!, path: req.url!, headers: req.headers, body: JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const port = (hook.address() as { port: number }).port;
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 4, seed: 41, articles: 1, maxComments: 1, immediateExports: 'runs started from the API read back what a run a moment before wrote', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, {
    options: { conflictPolicy: 'report' },
    alerts: { webhookUrl: `http://127.0.0.1:${port}/services/T000/B000/verdict-secret` },
  });
  name = m.config.name as string;
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-alerts-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  headers = { authorization: `Bearer ${api.tokens.create('operator', 'cutover lead').token}` };
});
afterAll(async () => {
  await api?.app.close();
  await m?.close();
  await new Promise((r) => hook?.close(r));
  rmSync(stateDir, { recursive: true, force: true });
});

describe('verdict alerts on the webhook', () => {
  it('posts each verdict change once, as Slack-compatible JSON: ready, not ready after a failed record, ready again once it is accepted', async () => {
    const source = m.source as ZendeskSandbox;
    const target = m.target as FreshdeskSandbox;
    expect(await run('full')).toMatchObject({ status: 'succeeded' });
    // A delta pass after the full run, re-verifying what it touched: ready to cut over.
    expect(await run('delta', { verify: true })).toMatchObject({ status: 'succeeded' });
    await idle();
    expect(await verdict()).toBe('ready');
    expect(verdictPosts().at(-1)).toEqual(['ready to cut over', 'not ready']);

    // Edited on both sides: the "report" conflict policy fails the record, and the pass's verification says so.
    const open = source.createTicket({ subject: 'Will be edited on both sides', status: 'open', comment: { body: 'Help', public: true } });
    expect(await run('delta', { verify: true })).toMatchObject({ status: 'succeeded' });
    const targetId = Number((await api.registry.get(name).current!.ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId);
    target.updateTicket(targetId, { subject: 'Edited by an agent in the target' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    expect(await run('delta', { verify: true })).toMatchObject({ status: 'succeeded' });
    await idle();
    expect(await verdict()).toBe('not-ready');
    expect(verdictPosts().at(-1)).toEqual(['not ready', 'ready to cut over']);
    // The pass's re-check is a run of the history, started by whoever started the delta.
    const { runs } = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/runs/history`, headers })).json();
    expect(runs.at(-1)).toMatchObject({ kind: 'verify', counts: { mismatched: 1 }, startedBy: { label: 'cutover lead' } });

    // Accepted by an operator: ready again, said once; accepting it again changes nothing and posts nothing.
    await post('/failures/accept', { records: [{ entity: 'ticket', sourceId: String(open.id) }], reason: 'the agent\'s edit is the one to keep' });
    await idle();
    expect(await verdict()).toBe('ready');
    const afterAccept = received.length;
    await post('/failures/accept', { records: [{ entity: 'ticket', sourceId: String(open.id) }], reason: 'the agent\'s edit is the one to keep' });
    await idle();
    expect(received.length).toBe(afterAccept);
    expect(verdictPosts().at(-1)).toEqual(['ready to cut over', 'not ready']);

    // Every post says a change: from what the previous one said, never the same verdict twice in a row.
    const posts = verdictPosts();
    for (let i = 1; i < posts.length; i++) {
      expect(posts[i][1], JSON.stringify(posts)).toBe(posts[i - 1][0]);
      expect(posts[i][0]).not.toBe(posts[i][1]);
    }
    expect(posts.filter(([now]) => now === 'not ready').length).toBeGreaterThanOrEqual(1);
    for (const r of received) {
      expect(r).toMatchObject({ method: 'POST', path: '/services/T000/B000/verdict-secret' });
      expect(r.headers['content-type']).toBe('application/json');
      expect(Object.keys(r.body)).toEqual(['text']);
      expect(typeof r.body.text).toBe('string');
    }
  }, 180_000);
});
