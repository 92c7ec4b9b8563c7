import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../../services/api/app.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

// Issue 17, "Progress": the ETA of tickets the run has not reached counts their comments and attachments
// (on a Freshdesk target each reply is a request of its own), from tickets drawn when the run starts.

let m: MigrationEnv;
let api: Api;
let stateDir: string;
let headers: Record<string, string>;
let name: string;

const get = async (path: string) => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}${path}`, headers })).json();
const rateLimit = (requestsPerMinute: number | null) =>
  fetch(`${m.target.url}/__sandbox/rate-limit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestsPerMinute }) });

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 12, seed: 31, articles: 0, maxComments: 6, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  name = m.config.name as string;
  writeFileSync(m.configFile, stringify({ ...m.config, dashboard: { etaSampleTickets: 5 } }));
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-eta-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  headers = { authorization: `Bearer ${api.tokens.create('operator', 'eta').token}` };
});
afterAll(async () => {
  await api?.app.close();
  await m?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the ETA of tickets not reached yet', () => {
  it('counts the comments of tickets drawn when the run started, then those the run read', async () => {
    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'full' } });
    expect(started.statusCode, started.body).toBe(202);
    // The target allows 3 requests a minute: the run stays on the entities before the tickets.
    await rateLimit(3);
    let progress = await get('/progress');
    for (let i = 0; i < 300 && !progress.ticketConversation; i++) {
      await new Promise((r) => setTimeout(r, 100));
      progress = await get('/progress');
    }
    const ticket = progress.entities.find((e: { entity: string }) => e.entity === 'ticket');
    expect(ticket).toMatchObject({ state: 'waiting', total: 12, etaFrom: 'budget' });
    expect(ticket.etaSeconds).toBeGreaterThan(0);
    // Five tickets drawn across the IDs; each has at least its first comment.
    expect(progress.ticketConversation).toMatchObject({ from: 'sample', tickets: 5 });
    expect(progress.ticketConversation.commentsPerTicket).toBeGreaterThanOrEqual(1);

    // Stopped while its next request waits for the target's next minute: the stop cuts the wait.
    const stopAsked = Date.now();
    const stopped = await api.app.inject({ method: 'DELETE', url: `/api/migrations/${name}/runs/active`, headers });
    expect(stopped.statusCode, stopped.body).toBe(200);
    expect(stopped.json().job).toMatchObject({ status: 'interrupted' });
    expect(Date.now() - stopAsked, 'the stop waited for the rate limit window').toBeLessThan(30_000);
    await rateLimit(null);
    while ((await get('')).activeJob) await new Promise((r) => setTimeout(r, 100));

    // Run to the end: the run's own tickets then set the count per ticket.
    const again = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'full' } });
    expect(again.statusCode, again.body).toBe(202);
    while ((await get('')).activeJob) await new Promise((r) => setTimeout(r, 100));
    const done = await get('/progress');
    expect(done.ticketConversation).toMatchObject({ from: 'run', tickets: 12 });
    expect(done.ticketConversation.commentsPerTicket).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
