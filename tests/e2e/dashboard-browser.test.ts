import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../services/api/app.ts';
import { CHROMIUM_ARGS, ensureChromium } from '../../tools/launcher/chromium.launcher.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

const ARTIFACTS = resolve('test-artifacts');

let m: MigrationEnv;
let api: Api;
let browser: BrowserContext;
let dirs: string[] = [];

beforeAll(async () => {
  const { path } = await ensureChromium({ log: (line) => process.stderr.write(`[chromium] ${line}\n`) });
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 150, seed: 88, articles: 3, maxComments: 4 });
  // A client-side ceiling on the target keeps the run long enough to watch it move.
  const config = { ...m.config, target: { ...(m.config.target as object), requestsPerMinute: 2400 }, dashboard: { timeZones: ['Asia/Tokyo', 'America/New_York'] } };
  writeFileSync(m.configFile, stringify(config));
  const stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-browser-'));
  const userDataDir = mkdtempSync(join(tmpdir(), 'hdm-chromium-'));
  dirs = [stateDir, userDataDir];
  api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: path,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width: 1280, height: 1400 },
    timezoneId: 'Europe/Berlin',
  });
  // On a fresh machine the launcher installs Chromium from Debian's packages first.
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await api?.app.close();
  await m?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the cutover dashboard in a real browser', () => {
  it('shows the counts of a running migration moving without a reload, then the verdict, and keeps a screenshot', async () => {
    const url = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const viewer = api.tokens.create('viewer', 'browser').token;
    const operator = api.tokens.create('operator', 'starter').token;
    const name = m.config.name as string;

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${url}/dashboard/#token=${viewer}`);
    await page.waitForSelector('#verdict.not-ready');
    expect(page.url()).not.toContain(viewer.slice('hdm_'.length + 13));
    expect(await page.textContent('#checks li[data-check="full-run"]')).toContain('no full run yet');
    const clocks = await page.textContent('#clocks');
    expect(clocks).toContain('Berlin');
    expect(clocks).toContain('Tokyo');
    expect(clocks).toContain('New York');
    await page.waitForSelector('#connection.on');
    await page.evaluate('window.sameDocument = true');

    const started = await fetch(`${url}/api/migrations/${name}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'full' }),
    });
    expect(started.status).toBe(202);

    // Watch the live table: the ticket count must be seen at several rising values before the run ends.
    const seen: number[] = [];
    const sourceSeen: number[] = [];
    let runningRunShown = false;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (!runningRunShown) runningRunShown = ((await page.textContent('#runs tbody').catch(() => '')) ?? '').includes('running');
      const text = await page.textContent('#live tbody tr[data-entity="ticket"] td.loaded').catch(() => null);
      if (text) {
        const n = Number(text.replace(/\D/g, ''));
        if (seen.at(-1) !== n) seen.push(n);
      }
      const src = await page.textContent('#entities tbody tr[data-entity="ticket"] td.source').catch(() => null);
      if (src) {
        const n = Number(src.replace(/\D/g, ''));
        if (sourceSeen.at(-1) !== n) sourceSeen.push(n);
      }
      const job = (await (await fetch(`${url}/api/migrations/${name}`, { headers: { authorization: `Bearer ${viewer}` } })).json()) as { activeJob: unknown };
      if (!job.activeJob) break;
      if (Date.now() > deadline) throw new Error('the run did not end in time');
      await page.waitForTimeout(250);
    }
    const tickets = m.source.counts().ticket;
    expect(seen.filter((n) => n > 0 && n < tickets).length, `ticket counts seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    // The runs table showed the run while it ran, not only once it ended.
    expect(runningRunShown).toBe(true);

    // After the run: the ledger's counts and a verdict with its reasons, still on the same document.
    await page.waitForFunction(`document.querySelector('#entities tbody tr[data-entity="ticket"] td.loaded')?.textContent.replace(/\\D/g, '') === '${tickets}'`, null, {
      timeout: 30_000,
    });
    await page.waitForSelector('#checks li[data-check="reconciliation"].ok', { timeout: 30_000 });
    expect(await page.textContent('#checks li[data-check="full-run"]')).toContain('finished');
    expect(await page.textContent('#checks li[data-check="delta-lag"]')).toContain('no delta pass');
    expect(await page.textContent('#verdict')).toBe('not ready');
    expect(await page.textContent('#entities tbody tr[data-entity="ticket"] td.missing')).toBe('0');
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    expect(await page.locator('#throughput svg polyline').count()).toBe(1);
    expect(await page.locator('#runs tbody tr').count()).toBe(1);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard-full-run.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);

    // A delta pass after the full run: the verdict turns to ready on the same page, from its events.
    const delta = await fetch(`${url}/api/migrations/${name}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'delta' }),
    });
    expect(delta.status).toBe(202);
    await page.waitForSelector('#verdict.ready', { timeout: 60_000 });
    expect(await page.textContent('#verdict')).toBe('ready to cut over');
    expect(await page.textContent('#checks li[data-check="delta-lag"]')).toMatch(/delta lag p95|had no new or changed record to write/);
    expect(await page.locator('#runs tbody tr').count()).toBe(2);
    expect(await page.evaluate('window.sameDocument')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-ready.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 300_000);
});
