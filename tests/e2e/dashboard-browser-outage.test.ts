import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { dashboardBrowser } from '../helpers/dashboard-browser.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// Issue 17: after an outage the page showed "0 rec/s" under a green "live" pill, with no word of why.
// Here the target answers a storm of 5xx, then of 429s with Retry-After (Freshdesk API v2, "Rate
// Limit": 429 with a Retry-After header in seconds; "Error Codes": 5xx are server errors) while a
// delta runs: the page must say what the run waits for and when it resets, and keep the lag sane.

let m: MigrationEnv;
let dashboard: Awaited<ReturnType<typeof dashboardBrowser>>;
/** Polls from the test's side: the page's Content-Security-Policy forbids evaluating strings in it. */
async function until(check: () => Promise<boolean>, tries = 150): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the page never showed it');
}
const fault = (spec: Record<string, unknown>) =>
  fetch(`${m.target.url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 6, seed: 57, articles: 1, maxComments: 1, immediateExports: 'the retried run reads back what the run before it wrote a moment earlier', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  writeFileSync(m.configFile, stringify({ ...m.config, dashboard: { stallSeconds: 5, maxLagSeconds: 300 } }));
  dashboard = await dashboardBrowser(m, { width: 1280, height: 900 });
}, 900_000);

afterAll(async () => {
  await dashboard?.close();
  await m?.close();
});

describe('the dashboard through an outage of the target', () => {
  it('names the rate limit the stalled run waits for and when it resets, never with a green pill, and shows the lag in seconds afterwards', async () => {
    const { api, browser } = dashboard;
    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const operator = api.tokens.create('operator', 'on call').token;
    const name = m.config.name as string;
    const run = async (kind: string, options: Record<string, unknown> = {}) => {
      const res = await fetch(`${url}/api/migrations/${name}/runs`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind, options }) });
      expect(res.status, await res.clone().text()).toBe(202);
    };
    const idle = async () => {
      for (;;) {
        const body = (await (await fetch(`${url}/api/migrations/${name}`, { headers: { authorization: `Bearer ${operator}` } })).json()) as { activeJob: unknown; jobs: { status: string }[] };
        if (!body.activeJob) return body.jobs[0];
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await run('full', { verify: false });
    expect(await idle()).toMatchObject({ status: 'succeeded' });

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${url}/dashboard/?migration=${name}#token=${operator}`);
    await page.waitForSelector('#connection.on');

    const source = m.source as ZendeskSandbox;
    for (let i = 0; i < 4; i++) source.createTicket({ subject: `Written during the outage ${i}`, status: 'open', comment: { body: 'Anyone there?', public: true } });
    await run('delta');
    // The storms, once the run passed its connection check: 5xx answers first, then 429s asking to wait 12 s.
    await fault({ status: 503, count: 3 });
    await fault({ status: 429, count: 2, retryAfterSeconds: 12 });

    const stall = await page.waitForSelector('#stall:not([hidden])', { timeout: 60_000 });
    expect(await stall.textContent()).toMatch(/^Stalled for \d+ s: waiting for Freshdesk's rate limit \(target\), resets in \d+ s$/);
    // While the run is stalled the pill is not green, and the throughput's headline says why it reads 0.
    const pill = await page.$eval('#connection', (el) => ({ cls: el.className, text: el.textContent }));
    expect(pill.cls).toBe('pill stalled');
    expect(pill.text).toMatch(/^stalled · updated \d+ s ago$/);
    await until(async () => /stalled: rate-limit/.test((await page.textContent('#throughput')) ?? ''));
    expect(await page.title()).toMatch(/^STALLED · /);

    expect(await idle()).toMatchObject({ status: 'succeeded' });
    // Both storms are counted per minute on the target's row.
    await page.waitForSelector('#stall[hidden]', { state: 'attached', timeout: 30_000 });
    expect(Number(await page.textContent('#health tbody tr[data-side="target"] td.rate-limited'))).toBeGreaterThan(0);
    expect(Number(await page.textContent('#health tbody tr[data-side="target"] td.server-errors'))).toBeGreaterThan(0);
    await page.waitForSelector('#connection.on', { timeout: 30_000 });
    // The pass's lag runs from when each change became visible to when it was loaded: seconds, not days.
    await until(async () => /\d s$/.test((await page.textContent('#lag')) ?? ''));
    const lag = Number(/([\d.,]+) s$/.exec((await page.textContent('#lag'))!)![1].replace(/,/g, ''));
    expect(lag).toBeGreaterThan(0);
    expect(lag).toBeLessThan(300);
    expect(await page.textContent('#checks li[data-check="delta-lag"]')).toMatch(/^delta lag p95 [\d.]+ s, under 300 s/);
    expect(problems).toEqual([]);
  }, 300_000);
});
