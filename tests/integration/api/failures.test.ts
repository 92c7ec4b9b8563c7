import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { buildApi, type Api } from '../../../services/api/app.ts';
import { migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';
import { runToEnd } from '../../helpers/api-runs.ts';

let m: MigrationEnv;
let api: Api;
let stateDir: string;
let headers: Record<string, string>;
let name: string;
const ledgerOf = () => api.registry.get(name).current!.ledger;

async function run(kind: string): Promise<Record<string, unknown>> {
  return runToEnd(api.app, name, headers, kind, kind === 'full' ? { verify: false } : {});
}

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 6, seed: 17, articles: 1, maxComments: 2, immediateExports: 'Tickets made and edited at the source just before the runs must be read', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { options: { conflictPolicy: 'report' } });
  name = m.config.name as string;
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-failures-'));
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  headers = { authorization: `Bearer ${api.tokens.create('operator').token}` };
});
afterAll(async () => {
  await api?.app.close();
  await m?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('failures through the API', () => {
  it('lists a record that failed with its code and reason, in JSON, CSV, metrics and the readiness', async () => {
    const source = m.source as ZendeskSandbox;
    const target = m.target as FreshdeskSandbox;
    expect(await run('full')).toMatchObject({ status: 'succeeded' });
    const open = source.createTicket({ subject: 'Still being worked on', status: 'open', comment: { body: 'Help please', public: true } });
    expect(await run('delta')).toMatchObject({ status: 'succeeded' });
    const ledger = api.registry.get(name).current!.ledger;
    const targetId = Number((await ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId);

    // Edited on both sides: the "report" policy keeps the target's edit and fails the record with the reason.
    target.updateTicket(targetId, { subject: 'Edited by an agent in the target' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    // The target now counts requests (its answers say how many are left) and throttles once…
    await fetch(`${m.target.url}/__sandbox/rate-limit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestsPerMinute: 50_000 }) });
    // …waited out, waited out (a connection check gives up after two 429s in a row).
    await fetch(`${m.target.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 429, count: 1 }) });
    const job = await run('delta');
    expect(job, JSON.stringify(job.error)).toMatchObject({ kind: 'delta', status: 'succeeded' });

    const failures = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/failures?limit=10`, headers })).json().failures;
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ entity: 'ticket', sourceId: String(open.id), errorCode: 'CONFLICT', attempts: expect.any(Number) });
    expect(failures[0].errorMessage).toContain('edited on the target');

    const csv = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/report?format=csv&part=failures`, headers })).body.split('\r\n');
    expect(csv[0]).toBe('entity,sourceId,errorCode,errorMessage,attempts,lastAttemptAt');
    expect(csv[1]).toMatch(new RegExp(`^ticket,${open.id},CONFLICT,.*edited on the target`));

    const summary = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers })).json();
    expect(summary.reconciliation.entities.find((e: { entity: string }) => e.entity === 'ticket').failed).toBe(1);
    expect(summary.readiness.checks.find((c: { check: string }) => c.check === 'failures')).toMatchObject({ ok: false, blocking: true, detail: '1 records failed to load; each has its reason under failures' });

    const dashboard = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/dashboard`, headers })).json();
    expect(dashboard.failures[0]).toMatchObject({ sourceId: String(open.id), errorCode: 'CONFLICT' });

    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics', headers })).body;
    expect(metrics).toContain(`hdm_records_total{migration="${name}",entity="ticket",stage="failed"} 1`);
    const limited = Number(new RegExp(`hdm_http_rate_limited_total\\{migration="${name}",side="target",platform="freshdesk"\\} (\\d+)`).exec(metrics)?.[1]);
    expect(limited).toBe(1);
    const remaining = Number(new RegExp(`hdm_rate_limit_remaining\\{migration="${name}",side="target",platform="freshdesk"\\} (\\d+)`).exec(metrics)?.[1]);
    expect(remaining).toBeGreaterThan(40_000);
    expect(remaining).toBeLessThan(50_000);
  });

  it('lets an operator accept a failure with a reason, refuses a viewer, counts it apart, and turns the verdict to ready only then', async () => {
    const source = m.source as ZendeskSandbox;
    const failed = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/failures`, headers })).json().failures;
    expect(failed).toHaveLength(1);
    const record = { entity: 'ticket', sourceId: failed[0].sourceId };
    expect(await run('verify')).toMatchObject({ status: 'succeeded' });
    const summary = async () => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/summary`, headers })).json();
    const check = (s: { readiness: { checks: { check: string; ok: boolean; detail: string }[] } }, which: string) => s.readiness.checks.find((c) => c.check === which)!;
    const before = await summary();
    expect(before.readiness).toMatchObject({ ready: false, verdict: 'not-ready' });
    // The ticket kept the target's edit: the target's copy is a mismatch of that ticket, not a loaded one.
    expect(before.reconciliation.entities.find((e: { entity: string }) => e.entity === 'ticket')).toMatchObject({ failed: 1, accepted: 0, mismatched: 1 });

    const accept = (token: string, payload: unknown) =>
      api.app.inject({ method: 'POST', url: `/api/migrations/${name}/failures/accept`, headers: { authorization: `Bearer ${token}` }, payload: payload as Record<string, unknown> });
    const viewer = api.tokens.create('viewer', 'reader').token;
    const refused = await accept(viewer, { records: [record], reason: 'the agent edit stays' });
    expect(refused.statusCode).toBe(403);
    const operator = api.tokens.create('operator', 'ops lead').token;
    expect((await accept(operator, { records: [record] })).statusCode).toBe(400);
    let loaded = '';
    for await (const entry of ledgerOf().idMap('ticket')) if (entry.sourceId !== record.sourceId) loaded ||= entry.sourceId;
    const notFailed = await accept(operator, { records: [{ entity: 'ticket', sourceId: loaded }], reason: 'nothing to accept' });
    expect(notFailed.statusCode).toBe(404);
    expect(notFailed.json().error.message).toContain(`ticket:${loaded}`);
    expect((await summary()).reconciliation.acceptances).toEqual([]);

    const ok = await accept(operator, { records: [record], reason: 'the agent edit on the target stays' });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().accepted).toEqual([expect.objectContaining({ ...record, reason: 'the agent edit on the target stays', acceptedBy: expect.stringContaining('ops lead') })]);
    const after = await summary();
    expect(after.reconciliation.entities.find((e: { entity: string }) => e.entity === 'ticket')).toMatchObject({ failed: 0, accepted: 1, mismatched: 0 });
    expect(after.reconciliation.acceptances).toEqual([expect.objectContaining({ ...record, acceptedBy: expect.stringContaining('ops lead') })]);
    expect(check(after, 'failures')).toMatchObject({ ok: true, detail: 'no failed records; 1 accepted failure counted apart (who and why under failures)' });
    expect(after.readiness).toMatchObject({ ready: true, verdict: 'ready', verification: { stale: false } });
    const listed = (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/failures`, headers })).json().failures;
    expect(listed[0].accepted).toMatchObject({ by: expect.stringContaining('ops lead'), reason: 'the agent edit on the target stays' });

    // Issue: a stale verification kept the verdict green. A delta writes to the target: verify again.
    const other = source.createTicket({ subject: 'Arrived after the verification', status: 'open', comment: { body: 'Hello', public: true } });
    expect(await run('delta')).toMatchObject({ status: 'succeeded' });
    const stale = await summary();
    expect(stale.readiness).toMatchObject({ ready: false, verdict: 'verify-again', verification: { stale: true } });
    expect(check(stale, 'reconciliation').detail).toMatch(/^verify again: 1 record written to the target.* since verification verify-\S+ \(\d+ s old\)$/);
    expect(other.id).toBeTruthy();
    expect(await run('verify')).toMatchObject({ status: 'succeeded' });
    expect((await summary()).readiness).toMatchObject({ ready: true, verdict: 'ready' });

    // Withdrawn, the failure counts again.
    const withdrawn = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/failures/withdraw`, headers: { authorization: `Bearer ${operator}` }, payload: { records: [record] } });
    expect(withdrawn.json()).toEqual({ withdrawn: 1 });
    expect((await summary()).readiness).toMatchObject({ ready: false, verdict: 'not-ready' });
  });
});
