import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { zendesk } from '../../connectors/zendesk/index.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

function hdm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

let dir: string;
let box: Awaited<ReturnType<typeof zendesk.startSandbox>>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-cli-'));
  box = await zendesk.startSandbox({ tickets: 1, requestsPerMinute: null });
});
afterAll(async () => {
  await box?.close();
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, config: Record<string, unknown>): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return file;
}

describe('hdm command line', () => {
  it('prints help for every command', async () => {
    const top = await hdm(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['quickstart', 'migrate', 'verify', 'sandbox', 'runs', 'failures', 'sql']) expect(top.stdout).toContain(command);
    const migrate = await hdm(['migrate', '--help']);
    expect(migrate.stdout).toContain('--config');
    expect(migrate.stdout).toContain('--restart');
  });

  it('fails a malformed migration file before any work, naming path, value and expectation (exit 2)', async () => {
    const file = configFile('bad', { name: 'bad name!', source: { platform: 'zendesk', url: 'ftp://x' }, target: { platform: 'freshdesk', url: 'https://x.freshdesk.com' }, options: { loaderConcurrency: 'lots' } });
    const r = await hdm(['migrate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toMatch(/name: .*got "bad name!"/);
    expect(r.stderr).toMatch(/source\.url: .*got "ftp:\/\/x"/);
    expect(r.stderr).toMatch(/options\.loaderConcurrency: .*got "lots"/);
  });

  it('fails fast on refused credentials without printing them (exit 3)', async () => {
    const secret = 'not-the-token-but-secret-9f8e7d';
    const file = configFile('auth', {
      name: 'auth',
      source: { platform: 'zendesk', url: box.url },
      target: { platform: 'zendesk', url: box.url, credentials: { email: { env: 'T_EMAIL' }, apiToken: { env: 'T_TOKEN' } } },
      stateDir: join(dir, 'auth-state'),
    });
    const r = await hdm(['migrate', '--config', file], { ...box.env, T_EMAIL: box.credentials.email, T_TOKEN: secret });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('AUTH_FAILED');
    expect(r.stderr + r.stdout).not.toContain(secret);
    expect(r.stderr + r.stdout).not.toContain(Buffer.from(`${box.credentials.email}/token:${secret}`).toString('base64'));
  });

  it('fails fast on an unreachable endpoint (exit 3)', async () => {
    const port = await closedPort();
    const file = configFile('down', {
      name: 'down',
      source: { platform: 'zendesk', url: box.url },
      target: { platform: 'zendesk', url: `http://127.0.0.1:${port}` },
      stateDir: join(dir, 'down-state'),
    });
    const r = await hdm(['migrate', '--config', file], box.env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('UNREACHABLE');
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.ms).toBeLessThan(20_000);
  });

  it('fails bad input (an impossible date, a byte that is not UTF-8, SQL as the ledger database) before any request (exit 2)', async () => {
    const stateDir = join(dir, 'bad-input-state');
    const yaml = stringify({
      name: 'badinput',
      source: { platform: 'zendesk', url: box.url },
      target: { platform: 'zendesk', url: box.url },
      filters: { createdFrom: '2023-02-31', tags: ['caf-PLACEHOLDER'] },
      ledger: { database: 'hdm; DROP DATABASE system' },
      stateDir,
    });
    const file = join(dir, 'bad-input.yaml');
    const [before, after] = yaml.split('PLACEHOLDER');
    writeFileSync(file, Buffer.concat([Buffer.from(before), Buffer.from([0xff]), Buffer.from(after)]));
    const served = box.requestsServed();
    const r = await hdm(['migrate', '--config', file, '--no-progress'], box.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toContain('filters.createdFrom: a date (YYYY-MM-DD) or an ISO-8601 instant (got "2023-02-31")');
    expect(r.stderr).toMatch(/filters\.tags\.0: text in UTF-8 .*got "caf-\uFFFD"/);
    expect(r.stderr).toContain('ledger.database: a database name');
    expect(box.requestsServed()).toBe(served);
    expect(existsSync(stateDir)).toBe(false);
  });

  it('names missing credential variables, not values (exit 2)', async () => {
    const file = configFile('nocreds', { name: 'nocreds', source: { platform: 'zendesk', url: box.url }, target: { platform: 'zendesk', url: box.url }, stateDir: join(dir, 'nc') });
    const r = await hdm(['migrate', '--config', file], { ZENDESK_EMAIL: '', ZENDESK_API_TOKEN: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('environment variable ZENDESK_API_TOKEN');
  });
});

describe('hdm purge', () => {
  it('refuses without --yes, then removes the state directory', async () => {
    const stateDir = join(dir, 'purge-state');
    const file = configFile('purge', { name: 'purge', source: { platform: 'zendesk', url: box.url }, target: { platform: 'zendesk', url: box.url }, stateDir });
    const { mkdirSync, existsSync } = await import('node:fs');
    mkdirSync(join(stateDir, 'ledger'), { recursive: true });
    writeFileSync(join(stateDir, 'checkpoints.json'), '{"full":null}');
    const refused = await hdm(['purge', '--config', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--yes');
    expect(existsSync(stateDir)).toBe(true);
    const done = await hdm(['purge', '--config', file, '--yes']);
    expect(done.code).toBe(0);
    expect(existsSync(stateDir)).toBe(false);
  });
});
