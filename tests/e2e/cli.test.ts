import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  box = await zendesk.startSandbox({ tickets: 1 });
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

describe('hdm failures accept and hdm cutover', () => {
  it('accepts a named failure with who and why, refuses one that did not fail, and the cutover verdict counts it apart', async () => {
    const stateDir = join(dir, 'accept-state');
    const file = configFile('accept', { name: 'accept', source: { platform: 'zendesk', url: box.url }, target: { platform: 'zendesk', url: box.url }, stateDir });
    const env = { ZENDESK_EMAIL: 'a@example.com', ZENDESK_API_TOKEN: 'not-a-real-token' };
    // A ledger where one ticket failed and one loaded, as a run leaves it.
    const { openLedger } = await import('../../services/ledger/clickhouse-ledger.ts');
    const ledger = await openLedger({ migration: 'accept', path: join(stateDir, 'ledger') });
    await ledger.recordSourceSeen('full-1', ['7', '8'].map((sourceId) => ({ entity: 'ticket', sourceId, updatedAt: '2026-01-01T00:00:00Z', deleted: false })));
    const base = { runId: 'full-1', entity: 'ticket' as const, targetId: null, rule: null, checksum: null, durationMs: 1 };
    await ledger.recordAttempt({ ...base, sourceId: '7', outcome: 'failed', action: 'none', errorCode: 'REJECTED', errorMessage: 'subject is required' });
    await ledger.recordAttempt({ ...base, sourceId: '8', targetId: '80', outcome: 'loaded', action: 'created', errorCode: null, errorMessage: null });
    await ledger.close();

    const before = await hdm(['cutover', '--config', file, '--json'], env);
    expect(before.code, before.stderr).toBe(1);
    expect(JSON.parse(before.stdout).readiness.checks.find((c: { check: string }) => c.check === 'failures')).toMatchObject({ ok: false });

    const [notFailed, badRef, noReason] = await Promise.all([
      hdm(['failures', 'accept', 'ticket:8', '--config', file, '--reason', 'loaded anyway'], env),
      hdm(['failures', 'accept', 'tickets:7', '--config', file, '--reason', 'typo'], env),
      hdm(['failures', 'accept', 'ticket:7', '--config', file], env),
    ]);
    expect(notFailed.code).toBe(1);
    expect(notFailed.stderr).toContain('no failed record ticket:8');
    expect(badRef.code).toBe(2);
    expect(badRef.stderr).toContain('"tickets:7" is not <entity>:<source id>');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("required option '--reason <text>' not specified");

    const accepted = await hdm(['failures', 'accept', 'ticket:7', '--config', file, '--reason', 'spam, closed in 2019', '--by', 'ops lead', '--json'], env);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(JSON.parse(accepted.stdout)).toEqual([expect.objectContaining({ entity: 'ticket', sourceId: '7', acceptedBy: 'ops lead', reason: 'spam, closed in 2019' })]);
    const listed = await hdm(['failures', '--config', file], env);
    expect(listed.stdout).toContain('ticket 7: REJECTED subject is required (1 attempts) · ACCEPTED by ops lead');
    const after = await hdm(['cutover', '--config', file], env);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('no failed records; 1 accepted failure counted apart (who and why under failures)');
    expect(after.stdout.trim()).toMatch(/verdict: not ready$/);
  }, 120_000);
});

describe('hdm purge', () => {
  it('refuses without --yes, then removes the state directory', async () => {
    const stateDir = join(dir, 'purge-state');
    const file = configFile('purge', { name: 'purge', source: { platform: 'zendesk', url: box.url }, target: { platform: 'zendesk', url: box.url }, stateDir });
    const { mkdirSync, existsSync } = await import('node:fs');
    mkdirSync(join(stateDir, 'ledger'), { recursive: true });
    writeFileSync(join(stateDir, 'checkpoints.json'), '{"full":null}');
    const refused = await hdm(['purge', '--config', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect(existsSync(stateDir)).toBe(true);
    const done = await hdm(['purge', '--config', file, '--yes']);
    expect(done.code).toBe(0);
    expect(existsSync(stateDir)).toBe(false);
  });
});

describe('hdm usage errors exit 2, as the README documents', () => {
  it('exits 2 for an unknown command, a missing --config, --config without a value, an invalid value and a missing argument', async () => {
    const [bogus, noConfig, noValue, badValue, noPlatform, nested] = await Promise.all([
      hdm(['bogus']),
      hdm(['migrate']),
      hdm(['migrate', '--config']),
      hdm(['quickstart', '--tickets', 'many']),
      hdm(['sandbox']),
      hdm(['mapping', 'suggest']),
    ]);
    expect([bogus.code, noConfig.code, noValue.code, badValue.code, noPlatform.code, nested.code]).toEqual([2, 2, 2, 2, 2, 2]);
    expect(bogus.stderr).toContain("unknown command 'bogus'");
    expect(noConfig.stderr).toContain("required option '-c, --config <file>' not specified");
    expect(noValue.stderr).toContain("option '-c, --config <file>' argument missing");
    expect(badValue.stderr).toContain('--tickets must be a whole number');
    expect(noPlatform.stderr).toContain("missing required argument 'platform'");
    expect(nested.stderr).toContain("required option '-c, --config <file>' not specified");
  });

  it('names an unknown option as unknown, not as a missing --config', async () => {
    const [alone, withConfig] = await Promise.all([hdm(['migrate', '--bogus']), hdm(['verify', '--config', 'm.yaml', '--bogus'])]);
    for (const r of [alone, withConfig]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("unknown option '--bogus'");
      expect(r.stderr).not.toContain('not specified');
    }
  });

  it('prints the package version with --version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await hdm(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});

describe('hdm quickstart output', () => {
  it('says it is verifying while it reconciles and prints nothing after its verdict', async () => {
    // Progress lines went to stderr once more after the verdict (the display was stopped twice);
    // one pipe for both streams keeps the order the user sees.
    const stateDir = join(dir, 'quickstart-output');
    const merged = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn('sh', ['-c', `"$0" "$1" quickstart --tickets 20 --state-dir "$2" 2>&1`, process.execPath, HDM, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('exit', (code) => resolve({ code, text }));
    });
    expect(merged.code, merged.text).toBe(0);
    const lines = merged.text.split('\n').filter((l) => l.trim() !== '');
    expect(lines.at(-1)).toBe('reconciliation clean: nothing missing, mismatched, duplicated or failed');
    // The Zendesk sign-in email is who signs in, not a secret: the default agent it names stays readable.
    expect(merged.text).toMatch(/re-assigned to the default agent [^\s*]+@/);
    const verifying = lines.findIndex((l) => l.startsWith('verifying'));
    const lastProgress = lines.findLastIndex((l) => l.startsWith('progress:'));
    const table = lines.findIndex((l) => /^entity\s+source\s+loaded/.test(l));
    expect(verifying).toBeGreaterThan(lastProgress);
    expect(lastProgress).toBeGreaterThan(-1);
    expect(table).toBeGreaterThan(verifying);
  }, 120_000);
});
