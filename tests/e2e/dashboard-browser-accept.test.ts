import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import type { Api } from '../../services/api/app.ts';
import { dashboardBrowser } from '../helpers/dashboard-browser.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';
import { runToEnd } from '../helpers/api-runs.ts';

// Issue 17, "A cutover verdict you can stake the business on": an operator accepts a named failure from
// the dashboard's drill-down, with a reason, and the verdict follows; a viewer reads the decision only.

let m: MigrationEnv;
let api: Api;
let browser: BrowserContext;
let dashboard: Awaited<ReturnType<typeof dashboardBrowser>>;
let name: string;
let operator: string;

async function run(kind: string): Promise<Record<string, unknown>> {
  return runToEnd(api.app, name, { authorization: `Bearer ${operator}` }, kind, kind === 'full' ? { verify: false } : {});
}

beforeAll(async () => {
  m = await migrationEnv(
    'zendesk',
    'freshdesk',
    { tickets: 6, seed: 17, articles: 1, maxComments: 2, immediateExports: 'a ticket made and edited at the source just before a delta must be read by it', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET },
    { options: { conflictPolicy: 'report' } },
  );
  name = m.config.name as string;
  dashboard = await dashboardBrowser(m, { width: 390, height: 844 });
  ({ api, browser } = dashboard);
  operator = api.tokens.create('operator', 'phone').token;
}, 900_000);

afterAll(async () => {
  await dashboard?.close();
  await m?.close();
});

const acceptCell = (page: Page, record: string) => page.locator(`#records tbody tr[data-record="${record}"] td.accept`);

describe('accepting a failure from the dashboard', () => {
  it('lets an operator accept the one failed record with a reason in its row, turning the verdict ready, and withdraw it; a viewer sees the decision but no control', async () => {
    const source = m.source as ZendeskSandbox;
    expect(await run('full')).toMatchObject({ status: 'succeeded' });
    const open = source.createTicket({ subject: 'Still being worked on', status: 'open', comment: { body: 'Help please', public: true } });
    expect(await run('delta')).toMatchObject({ status: 'succeeded' });
    const targetId = Number((await api.registry.get(name).current!.ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId);
    // Edited on both sides: the "report" policy keeps the target's edit and fails the record.
    (m.target as FreshdeskSandbox).updateTicket(targetId, { subject: 'Edited by an agent in the target' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    expect(await run('delta')).toMatchObject({ status: 'succeeded' });
    expect(await run('verify')).toMatchObject({ status: 'succeeded' });
    const record = `ticket:${open.id}`;

    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${url}/dashboard/?migration=${name}#token=${operator}`);
    await page.waitForSelector('#controls:not([hidden])');
    await page.waitForSelector('#verdict.not-ready', { timeout: 30_000 });
    expect(await page.textContent('#checks li[data-check="failures"]')).toBe('1 records failed to load; each has its reason under failures');
    // The failed list is the drill-down's first view; its one row offers the operator an Accept action.
    await acceptCell(page, record).locator('button.accept-open').waitFor({ timeout: 30_000 });
    expect(await page.locator('#records tbody tr[data-record]').count()).toBe(1);
    expect(await page.isVisible('#records-accepted')).toBe(true);

    // A viewer reads the same row without any control.
    const viewerPage = await browser.newPage();
    await viewerPage.goto(`${url}/dashboard/?migration=${name}#token=${api.tokens.create('viewer', 'reader').token}`);
    await acceptCell(viewerPage, record).waitFor({ timeout: 30_000 });
    expect(await acceptCell(viewerPage, record).textContent()).toBe('no');
    expect(await viewerPage.locator('#records td.accept button, #records td.accept form, #records td.accept input').count()).toBe(0);

    // The reason is asked in the row; the API's refusal of a too-short one is shown there, nothing is recorded.
    await acceptCell(page, record).locator('button.accept-open').click();
    const reason = acceptCell(page, record).locator('input[name="reason"]');
    await reason.fill('ok');
    await acceptCell(page, record).locator('button.accept-confirm').click();
    const error = acceptCell(page, record).locator('.error');
    for (let i = 0; i < 100 && !(await error.textContent()); i++) await page.waitForTimeout(100);
    expect(await error.textContent()).toBe('BAD_REQUEST: invalid body: reason: a reason of at least 3 characters');
    expect(await page.getAttribute('#verdict', 'class')).toBe('not-ready');
    const failures = async () => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}/failures`, headers: { authorization: `Bearer ${operator}` } })).json().failures;
    expect((await failures())[0].accepted).toBeNull();

    // The list is drawn again on every summary event: the reason typed so far stays.
    await reason.fill('the agent edit on the target stays');
    await page.click('#record-status button[data-status="failed"]');
    await reason.waitFor({ timeout: 30_000 });
    expect(await reason.inputValue()).toBe('the agent edit on the target stays');
    await acceptCell(page, record).locator('button.accept-confirm').click();
    await acceptCell(page, record).locator('.accepted-by').waitFor({ timeout: 30_000 });
    expect(await acceptCell(page, record).locator('.accepted-by').textContent()).toMatch(/^accepted by phone \(token \S+\): the agent edit on the target stays$/);
    await page.waitForSelector('#verdict.ready', { timeout: 30_000 });
    expect(await page.textContent('#verdict')).toBe('ready to cut over');
    expect(await page.textContent('#checks li[data-check="failures"]')).toBe('no failed records; 1 accepted failure counted apart (who and why under failures)');
    expect((await failures())[0].accepted).toMatchObject({ by: expect.stringMatching(/^phone \(token /), reason: 'the agent edit on the target stays' });
    expect(await acceptCell(page, record).locator('.error').textContent()).toBe('');

    // The viewer's page follows with who and why, still without a control.
    await viewerPage.waitForSelector('#verdict.ready', { timeout: 30_000 });
    await acceptCell(viewerPage, record).locator('.accepted-by').waitFor({ timeout: 30_000 });
    expect(await acceptCell(viewerPage, record).textContent()).toMatch(/^accepted by phone \(token \S+\): the agent edit on the target stays$/);
    expect(await viewerPage.locator('#records td.accept button, #records td.accept form').count()).toBe(0);
    await viewerPage.close();

    // Withdrawn from the page, the failure counts again.
    await acceptCell(page, record).locator('button.withdraw').click();
    await acceptCell(page, record).locator('button.accept-open').waitFor({ timeout: 30_000 });
    await page.waitForSelector('#verdict.not-ready', { timeout: 30_000 });
    expect((await failures())[0].accepted).toBeNull();

    const widths = await page.locator('html').evaluate((html) => [html.scrollWidth, html.clientWidth]);
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);
    expect(problems).toEqual([]);
  }, 420_000);
});
