import { writeFileSync } from 'node:fs';
import type { BrowserContext } from 'playwright-core';
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
  writeFileSync(m.configFile, stringify({ ...m.config, dashboard: { timeZones: ['Asia/Tokyo'] } }));
  dashboard = await dashboardBrowser(m, { width: 390, height: 844 });
  ({ api, browser } = dashboard);
}, 900_000);

afterAll(async () => {
  await dashboard?.close();
  await m?.close();
});

describe('the dashboard for an operator on a phone', () => {
  it('starts a full run from its button, shows health and progress per entity, puts the verdict in the title, and never scrolls the page sideways', async () => {
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
  }, 300_000);
});
