import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { HDM, hdm } from '../helpers/hdm-process.ts';


let m: MigrationEnv;
let stateDir: string;
let server: ChildProcess | null = null;

beforeAll(async () => {
  m = await migrationEnv('zendesk', 'freshdesk', { tickets: 3, seed: 5, articles: 1, maxComments: 1 });
  stateDir = mkdtempSync(join(tmpdir(), 'hdm-serve-'));
});
afterAll(async () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  await m?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('hdm serve api and hdm token', () => {
  it('prints the first admin token once, serves the migration with it, and stops on SIGTERM', async () => {
    const created = await hdm(['token', 'create', '--role', 'admin', '--label', 'first', '--state-dir', stateDir]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^hdm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('shown only this once');

    const listed = await hdm(['token', 'list', '--state-dir', stateDir]);
    expect(listed.stdout).toContain(token.split('_')[1]);
    expect(listed.stdout).toContain('admin');
    expect(listed.stdout).not.toContain(token.slice('hdm_'.length + 13));

    const badRole = await hdm(['token', 'create', '--role', 'root', '--state-dir', stateDir]);
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toContain('viewer, operator, admin');
    const badServe = await hdm(['serve', 'scheduler', '--state-dir', stateDir]);
    expect(badServe.code).not.toBe(0);
    expect(badServe.stderr).toMatch(/'scheduler' is invalid.*Allowed choices are api, poller, mapper, loader/s);
    const noFile = await hdm(['serve', 'poller', '--state-dir', stateDir]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr.trim()).toBe('hdm serve poller takes one migration file: -c m.yaml');

    server = spawn(process.execPath, [HDM, 'serve', 'api', '--config', m.configFile, '--port', '0', '--state-dir', stateDir, '--json'], { env: m.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      server!.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      server!.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const { url, migrations } = JSON.parse(first);
    expect(migrations).toEqual([m.config.name]);
    expect((await fetch(`${url}/api/me`)).status).toBe(401);
    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(await me.json()).toMatchObject({ role: 'admin' });
    const page = await fetch(`${url}/dashboard/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('Cutover dashboard');

    // A dashboard still following the live events must not hold the server open.
    const events = await fetch(`${url}/api/migrations/${m.config.name}/events`, { headers: { authorization: `Bearer ${token}` } });
    const reader = events.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: progress');
    const exited = new Promise<number | null>((resolve) => server!.on('exit', resolve));
    const stopping = Date.now();
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect((await reader.read()).done).toBe(true);
  });
});
