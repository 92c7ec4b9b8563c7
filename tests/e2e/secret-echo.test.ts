import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startFreshdeskSandbox, type FreshdeskSandbox } from '../../connectors/freshdesk/index.ts';
import { startZendeskSandbox, type ZendeskSandbox, type ZendeskSandboxOptions } from '../../connectors/zendesk/index.ts';
import { RUNS_EXCEED_EXPORT_BUDGET, sandboxOptions } from '../helpers/sandbox-options.ts';
import { buildApi } from '../../services/api/app.ts';
import { openLedger } from '../../services/ledger/clickhouse-ledger.ts';
import { hdm } from '../helpers/hdm-process.ts';

// A key with characters that JSON and URLs escape, so that every encoding differs from the raw key.
const API_KEY = 'fd-"echo"\\key/with+plus-7731';
const pair = `${API_KEY}:X`;
const basic = Buffer.from(pair).toString('base64');

/** Every spelling of the Freshdesk key the engine or a platform could produce. */
const FORMS: Record<string, string> = {
  raw: API_KEY,
  json: JSON.stringify(API_KEY).slice(1, -1),
  url: encodeURIComponent(API_KEY),
  'basic pair': pair,
  'basic base64': basic.replace(/=+$/, ''),
  'basic base64url': Buffer.from(pair).toString('base64url'),
  'basic url-encoded': encodeURIComponent(basic),
  'header url-encoded': encodeURIComponent(`Basic ${basic}`),
};

function leaks(sink: string, text: string): string[] {
  return Object.entries(FORMS)
    .filter(([, form]) => text.includes(form))
    .map(([name]) => `${sink}: ${name}`);
}

/**
 * A proxy in front of the Freshdesk sandbox that answers every ticket create with a 400 whose body
 * echoes the request's Authorization header, as is, URL-encoded and decoded.
 */
async function echoingProxy(upstream: string): Promise<{ url: string; echoed: () => number; close(): Promise<void> }> {
  const target = new URL(upstream);
  let echoed = 0;
  const server: Server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    if (req.method === 'POST' && req.url?.split('?')[0] === '/api/v2/tickets') {
      echoed += 1;
      req.resume();
      const decoded = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8');
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          description: 'Validation failed',
          errors: [{ field: 'authorization', message: `Invalid header ${auth}`, code: 'invalid_value' }],
          request: { headers: { authorization: auth }, query: `auth=${encodeURIComponent(auth)}`, user: decoded.split(':')[0] },
        }),
      );
      return;
    }
    const forward = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    echoed: () => echoed,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let dir: string;
let source: ZendeskSandbox;
let target: FreshdeskSandbox;
let proxy: Awaited<ReturnType<typeof echoingProxy>>;
let configFile: string;
let stateDir: string;
let env: NodeJS.ProcessEnv;
const NAME = 'secret-echo';

beforeAll(async () => {
  source = await startZendeskSandbox(sandboxOptions<ZendeskSandboxOptions>({ tickets: 4, articles: 1, maxComments: 1, seed: 61, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }));
  target = await startFreshdeskSandbox({ tickets: 0, seed: 62, apiKey: API_KEY });
  proxy = await echoingProxy(target.url);
  dir = mkdtempSync(join(tmpdir(), 'hdm-secret-echo-'));
  stateDir = join(dir, 'state');
  configFile = join(dir, 'migration.yaml');
  writeFileSync(
    configFile,
    stringify({ name: NAME, source: { platform: 'zendesk', url: source.url, plan: 'none' }, target: { platform: 'freshdesk', url: proxy.url }, entities: ['agent', 'group', 'organization', 'contact', 'ticket'], stateDir }),
  );
  env = { ...process.env, ...source.env, FRESHDESK_API_KEY: API_KEY };
});
afterAll(async () => {
  await proxy?.close();
  await Promise.allSettled([source?.close(), target?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a platform that echoes the Authorization header in its error bodies', () => {
  it('leaks no form of the credential to any sink: output, log, ledger, failures, verify, demo report, API', async () => {
    const found: string[] = [];
    const runs = {
      migrate: await hdm(['migrate', '--config', configFile, '--no-progress'], env),
      demo: await hdm(['demo', '--config', configFile, '--count', '2'], env),
      failures: await hdm(['failures', '--config', configFile], env),
      'failures --json': await hdm(['failures', '--config', configFile, '--json'], env),
      verify: await hdm(['verify', '--config', configFile, '--json'], env),
      runs: await hdm(['runs', '--config', configFile, '--json'], env),
      sql: await hdm(['sql', '--config', configFile, 'SELECT * FROM load_attempts'], env),
    };
    // The echo really happened and the failures really reached every sink, with the echo's text in them.
    expect(proxy.echoed()).toBeGreaterThan(0);
    expect(runs.failures.stdout).toContain('Invalid header ***');
    for (const [command, r] of Object.entries(runs)) found.push(...leaks(`hdm ${command} stdout`, r.stdout), ...leaks(`hdm ${command} stderr`, r.stderr));

    found.push(...leaks('hdm.log', readFileSync(join(stateDir, 'hdm.log'), 'utf8')));
    const reports = readdirSync(join(stateDir, 'demo')).filter((f) => /\.(html|json)$/.test(f) && f !== 'selection.json');
    expect(reports.length).toBeGreaterThanOrEqual(2);
    for (const file of reports) found.push(...leaks(`demo report ${file}`, readFileSync(join(stateDir, 'demo', file), 'utf8')));

    // Every ledger table and view, read as stored: this process has registered no secret.
    const ledger = await openLedger({ migration: NAME, path: join(stateDir, 'ledger') });
    try {
      const tables = (await ledger.query('SHOW TABLES')).map((r) => String(r.name));
      expect(tables).toEqual(expect.arrayContaining(['runs', 'load_attempts', 'dead_letters', 'verifications', 'latest_outcomes']));
      let withEcho = 0;
      for (const table of tables) {
        const text = JSON.stringify(await ledger.query(`SELECT * FROM ${table}`));
        if (text.includes('Invalid header')) withEcho += 1;
        found.push(...leaks(`ledger table ${table}`, text));
      }
      expect(withEcho).toBeGreaterThanOrEqual(2);
    } finally {
      await ledger.close();
    }

    const apiState = join(dir, 'api');
    const api = buildApi({ stateDir: apiState, configFiles: [configFile], env });
    try {
      const headers = { authorization: `Bearer ${api.tokens.create('admin').token}` };
      for (const url of [
        `/api/migrations/${NAME}/failures?limit=50`,
        `/api/migrations/${NAME}/dashboard`,
        `/api/migrations/${NAME}/summary`,
        `/api/migrations/${NAME}/report`,
        `/api/migrations/${NAME}/report?format=csv&part=failures`,
        `/api/migrations/${NAME}`,
        '/api/migrations',
      ]) {
        const res = await api.app.inject({ method: 'GET', url, headers });
        expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
        found.push(...leaks(`GET ${url}`, res.body));
      }
    } finally {
      await api.app.close();
    }
    expect(found).toEqual([]);
  }, 240_000);

  it('keeps the state directory owner-only: the ledger and log under it hold whole ticket payloads', () => {
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(mode(stateDir)).toBe(0o700);
    expect(mode(join(stateDir, 'ledger'))).toBe(0o700);
    expect(mode(join(stateDir, 'demo'))).toBe(0o700);
    const files = ['hdm.log', 'checkpoints.json', ...readdirSync(join(stateDir, 'demo')).map((f) => join('demo', f))];
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) expect(mode(join(stateDir, file)), file).toBe(0o600);
  });
});
