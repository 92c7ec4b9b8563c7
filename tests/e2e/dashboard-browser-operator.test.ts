import { writeFileSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../services/api/app.ts';
import { dashboardBrowser } from '../helpers/dashboard-browser.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// Issue 17, "What the operator must see": on a 390 px phone, an operator starts a run from the page
// and reads the platforms' health and the progress per entity, with the verdict in the tab title.

let m: MigrationEnv;
let api: Api;
let browser: BrowserContext;
let dashboard: Awaited<ReturnType<typeof dashboardBrowser>>;

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 20, seed: 91, articles: 1, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  writeFileSync(m.configFile, stringify({ ...m.config, dashboard: { timeZones: ['Asia/Tokyo'] }, options: { conflictPolicy: 'report' } }));
  dashboard = await dashboardBrowser(m, { width: 390, height: 844 });
  ({ api, browser } = dashboard);
}, 900_000);

afterAll(async () => {
  await dashboard?.close();
  await m?.close();
});

describe('the dashboard for an operator on a phone', () => {
  it('starts a full run from its button, shows health and progress per entity, puts the verdict in the title, lists every run and drills into failed records it retries, and never scrolls the page sideways', async () => {
    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const operator = api.tokens.create('operator', 'phone').token;
    const name = m.config.name as string;
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${url}/dashboard/?migration=${name}#token=${operator}`);
    await page.waitForSelector('#controls:not([hidden])');
    await page.click('#controls button[data-kind="full"]');
    await page.waitForSelector('#progress tbody tr.done[data-entity="ticket"]', { timeout: 120_000 });
    expect(await page.textContent('#progress tbody tr[data-entity="ticket"] td.done')).toBe('20');
    expect(await page.textContent('#progress tbody tr[data-entity="ticket"] td.total')).toBe('20');
    await page.waitForSelector('#health tbody tr[data-side="target"]');
    expect(Number((await page.textContent('#health tbody tr[data-side="target"] td.limit'))!.replace(/\D/g, ''))).toBeGreaterThan(0);
    await page.waitForSelector('#verdict.not-ready', { timeout: 60_000 });
    for (let i = 0; i < 100 && !(await page.title()).startsWith(`not ready · ${name}`); i++) await page.waitForTimeout(200);
    expect(await page.title()).toBe(`not ready · ${name} · Cutover dashboard`);
    expect(await page.textContent('#connection')).toMatch(/^updated \d+ s ago$/);
    // Tables scroll inside their cards: the page itself is no wider than the phone.
    const widths = await page.locator('html').evaluate((html) => [html.scrollWidth, html.clientWidth]);
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);
    expect(problems).toEqual([]);

    // Every run in the runs table: the full run and its closing verification, with duration, counts and who started them.
    await page.waitForSelector('#runs tbody tr[data-kind="verify"]', { timeout: 30_000 });
    const full = page.locator('#runs tbody tr[data-kind="full"]');
    expect(await full.locator('td.started-by').textContent()).toBe('phone (operator)');
    expect(Number(await full.locator('td.created').textContent())).toBeGreaterThanOrEqual(20);
    expect(await full.locator('td.failed').textContent()).toBe('0');
    expect(await full.locator('td.duration').textContent()).toMatch(/^\d+ (s|min \d+ s)$/);
    const verify = page.locator('#runs tbody tr[data-kind="verify"]');
    expect(await verify.locator('td.started-by').textContent()).toBe('phone (operator)');
    expect(await verify.locator('td').nth(2).textContent()).toMatch(/^succeeded: \d+ ok, 0 missing, 0 mismatched, 0 duplicated$/);
    expect(await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/runs/history`, headers: { authorization: `Bearer ${operator}` } }).then((r) => r.json().runs.length)).toBe(await page.locator('#runs tbody tr').count());

    // A record edited on both sides fails under the "report" conflict policy (delta passes started through the API).
    const idle = async () => {
      while ((await api.app.inject({ method: 'GET', url: `/api/migrations/${name}`, headers: { authorization: `Bearer ${operator}` } })).json().activeJob) await page.waitForTimeout(200);
    };
    const delta = async () => {
      // The full run's job ends after its closing verification is listed: a run started before is refused (409 RUN_ACTIVE).
      await idle();
      const res = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers: { authorization: `Bearer ${operator}` }, payload: { kind: 'delta' } });
      expect(res.statusCode, res.body).toBe(202);
      await idle();
    };
    const source = m.source as ZendeskSandbox;
    const open = source.createTicket({ subject: 'Edited on both sides', status: 'open', comment: { body: 'Help', public: true } });
    await delta();
    const ledger = api.registry.get(name).current!.ledger;
    const targetId = (await ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId;
    (m.target as FreshdeskSandbox).updateTicket(Number(targetId), { subject: 'Edited by an agent' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    await delta();
    await page.waitForSelector(`#runs tbody tr[data-kind="delta"] td.failed.bad`, { timeout: 30_000 });

    // The drill-down on the page: failed records grouped by reason, both records' links, the ledger's attempts.
    await page.click('#record-status button[data-status="failed"]');
    const failedRow = page.locator(`#records tbody tr[data-record="ticket:${open.id}"]`);
    await failedRow.waitFor({ timeout: 30_000 });
    expect(await page.textContent('#records tbody tr.group')).toBe('CONFLICT · ticket · 1 record');
    expect(await failedRow.locator('td.source a').getAttribute('href')).toBe(`${m.source.url}/agent/tickets/${open.id}`);
    expect(await failedRow.locator('td.target a').getAttribute('href')).toBe(`${m.target.url}/a/tickets/${targetId}`);
    const attempts = Number((await ledger.query(`SELECT count() AS n FROM load_attempts WHERE migration = {migration:String} AND entity = 'ticket' AND source_id = {id:String}`, { params: { id: String(open.id) } }))[0].n);
    expect(Number(await failedRow.locator('td.attempts').textContent())).toBe(attempts);
    expect(attempts).toBeGreaterThanOrEqual(2);
    await page.click('#record-status button[data-status="filtered"]');
    await page.waitForSelector('#records tbody tr.group');
    expect(await page.locator('#records tbody tr.group').first().textContent()).toMatch(/ · agent · \d+ records?$/);
    await page.click('#record-status button[data-status="failed"]');
    await failedRow.waitFor();

    // A viewer reads the same list without the retry button.
    const viewerPage = await browser.newPage();
    await viewerPage.goto(`${url}/dashboard/?migration=${name}#token=${api.tokens.create('viewer', 'reader').token}`);
    await viewerPage.locator(`#records tbody tr[data-record="ticket:${open.id}"]`).waitFor({ timeout: 30_000 });
    expect(await viewerPage.isHidden('#retry-failed')).toBe(true);
    await viewerPage.close();
    // The operator retries it from the page: a repair run by "phone", after which nothing has failed.
    await page.click('#retry-failed');
    await page.waitForSelector('#runs tbody tr[data-kind="repair"]', { timeout: 60_000 });
    for (let i = 0; i < 300 && (await page.textContent('#records tbody')) !== 'no failed records'; i++) await page.waitForTimeout(200);
    expect(await page.textContent('#records tbody')).toBe('no failed records');
    expect(await page.locator('#runs tbody tr[data-kind="repair"] td.started-by').textContent()).toBe('phone (operator)');
    expect(await page.isHidden('#retry-failed')).toBe(true);
    const shotWidths = await page.locator('html').evaluate((html) => [html.scrollWidth, html.clientWidth]);
    expect(shotWidths[0]).toBeLessThanOrEqual(shotWidths[1]);
    expect(problems).toEqual([]);
  }, 420_000);
});
