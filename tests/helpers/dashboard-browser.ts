import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildApi, type Api } from '../../services/api/app.ts';
import { CHROMIUM_ARGS, ensureChromium } from '../../tools/launcher/chromium.launcher.ts';
import type { MigrationEnv } from './migration-env.ts';

/**
 * The API over a migration environment's file and a real Chromium (installed from Debian's packages
 * by the launcher on a fresh machine) in Berlin time, each with a state directory of its own.
 */
export async function dashboardBrowser(
  m: MigrationEnv,
  viewport: { width: number; height: number },
): Promise<{ api: Api; browser: BrowserContext; close(): Promise<void> }> {
  const { path } = await ensureChromium({ log: (line) => process.stderr.write(`[chromium] ${line}\n`) });
  const stateDir = mkdtempSync(join(tmpdir(), 'hdm-api-browser-'));
  const userDataDir = mkdtempSync(join(tmpdir(), 'hdm-chromium-'));
  const api = buildApi({ stateDir, configFiles: [m.configFile], env: m.env });
  const browser = await chromium.launchPersistentContext(userDataDir, { executablePath: path, headless: true, args: [...CHROMIUM_ARGS], viewport, timezoneId: 'Europe/Berlin' });
  return {
    api,
    browser,
    async close() {
      await browser.close();
      await api.app.close();
      for (const d of [stateDir, userDataDir]) rmSync(d, { recursive: true, force: true });
    },
  };
}
