import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../services/api/app.ts';

const dir = mkdtempSync(join(tmpdir(), 'hdm-api-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('a migration whose ledger is on a ClickHouse server', () => {
  it('takes the server from --clickhouse-url and answers 503 naming it, without the password, when it is down', async () => {
    const port = await closedPort();
    const file = join(dir, 'm.yaml');
    writeFileSync(
      file,
      stringify({
        name: 'on-a-server',
        source: { platform: 'zendesk', url: 'http://127.0.0.1:9' },
        target: { platform: 'freshdesk', url: 'http://127.0.0.1:9' },
        ledger: { password: { env: 'HDM_TEST_CH_PASSWORD' } },
      }),
    );
    const env = { ZENDESK_EMAIL: 'a@b.c', ZENDESK_API_TOKEN: 't', FRESHDESK_API_KEY: 'k', HDM_TEST_CH_PASSWORD: 'ch-pass-93b1d7' };
    const { app, tokens } = buildApi({ stateDir: join(dir, 'api'), configFiles: [file], clickhouseUrl: `http://127.0.0.1:${port}`, env });
    try {
      const headers = { authorization: `Bearer ${tokens.create('viewer').token}` };
      const listed = (await app.inject({ method: 'GET', url: '/api/migrations', headers })).json();
      expect(listed.migrations[0]).toMatchObject({ name: 'on-a-server', ledger: 'clickhouse' });
      const res = await app.inject({ method: 'GET', url: '/api/migrations/on-a-server/summary', headers });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('LEDGER_FAILED');
      expect(res.json().error.message).toContain(`cannot reach the ClickHouse server at http://127.0.0.1:${port}`);
      expect(res.body).not.toContain('ch-pass-93b1d7');
    } finally {
      await app.close();
    }
  });
});
