import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildApi, type Api } from '../../../services/api/app.ts';

let dir: string;
let api: Api;
let admin: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-api-hostile-'));
  api = buildApi({ stateDir: join(dir, 'state'), env: {} });
  admin = { authorization: `Bearer ${api.tokens.create('admin').token}` };
});
afterAll(async () => {
  await api?.app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard files named after prototype keys (regression: they answered 500)', () => {
  it('answer 404, and the real files still 200', async () => {
    for (const file of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']) {
      const res = await api.app.inject({ method: 'GET', url: `/dashboard/${file}` });
      expect(res.statusCode, file).toBe(404);
      expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no such file' } });
    }
    expect((await api.app.inject({ method: 'GET', url: '/dashboard/dashboard.js' })).statusCode).toBe(200);
  });
});

describe('POST /api/migrations with a file that is not a migration (regression: the error quoted the file)', () => {
  it('names the path and what was expected, never the file content', async () => {
    const compose = join(dir, 'docker-compose.yaml');
    writeFileSync(compose, stringify({ services: { db: { environment: { POSTGRES_PASSWORD: 'pg-other-file-secret' } } }, version: '3' }));
    const broken = join(dir, 'secrets.yml');
    writeFileSync(broken, 'api_key: sk-live-abcdef\n  bad indent: other-file-line-secret: x\n');
    for (const path of [compose, broken]) {
      const res = await api.app.inject({ method: 'POST', url: '/api/migrations', headers: admin, payload: { path } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('CONFIG_INVALID');
      expect(res.body).toContain(path);
      for (const content of ['pg-other-file-secret', 'POSTGRES_PASSWORD', 'services', 'sk-live-abcdef', 'other-file-line-secret', 'bad indent']) expect(res.body).not.toContain(content);
    }
  });

  it('refuses a migration with an inline secret without echoing it', async () => {
    const secret = 'inline-api-secret-5e4d3c';
    const yaml = stringify({
      name: 'inline',
      source: { platform: 'zendesk', url: 'https://acme.zendesk.com', credentials: { apiToken: secret } },
      target: { platform: 'freshdesk', url: 'https://acme.freshdesk.com' },
    });
    const res = await api.app.inject({ method: 'POST', url: '/api/migrations', headers: { ...admin, 'content-type': 'application/yaml' }, payload: yaml });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.body).toContain('source.credentials.apiToken');
    expect(res.body).not.toContain(secret);
    const broken = await api.app.inject({ method: 'POST', url: '/api/migrations', headers: admin, payload: { yaml: `name: x\n  token: ${secret}: y\n` } });
    expect(broken.statusCode).toBe(400);
    expect(broken.body).not.toContain(secret);
  });
});
