import { createClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyClickHouse, ensureClickHouse, type ClickHouseInstance } from '../../tools/launcher/clickhouse.launcher.ts';
import { hdm } from '../helpers/hdm-process.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

// `--clickhouse-url`: the ledger on a ClickHouse server, credentials from environment variables.
// The server is the project's stand-in of ClickHouse's HTTP interface on the ClickHouse engine.
const INSTANCE = 'ledger-cli-e2e';
const user = 'hdm_cli';
const password = `pw-${randomBytes(6).toString('hex')}`;
const database = `hdm_e2e_${randomBytes(3).toString('hex')}`;

describe('hdm migrate and verify with the ledger on a ClickHouse server', () => {
  let m: MigrationEnv;
  let clickhouse: ClickHouseInstance;
  beforeAll(async () => {
    [m, clickhouse] = await Promise.all([
      migrationEnv('zendesk', 'freshdesk', { tickets: 3, seed: 5, articles: 1 }, {
        ledger: { database, username: { env: 'HDM_LEDGER_USER' }, password: { env: 'HDM_LEDGER_PASSWORD' } },
      }),
      ensureClickHouse({ name: INSTANCE, user, password }),
    ]);
  });
  afterAll(async () => {
    await m?.close();
    await destroyClickHouse({ name: INSTANCE });
  });

  it('migrates and reconciles with every ledger row on the server, the password printed nowhere', async () => {
    const env = { ...m.env, HDM_LEDGER_USER: user, HDM_LEDGER_PASSWORD: password };
    const migrated = await hdm(['migrate', '--config', m.configFile, '--clickhouse-url', clickhouse.url, '--json', '--no-verify', '--no-progress'], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    const verified = await hdm(['verify', '--config', m.configFile, '--clickhouse-url', clickhouse.url, '--json'], env);
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout);
    expect(report.clean).toBe(true);
    expect(report.entities.ticket).toMatchObject({ source: 3, loaded: 3, missing: 0, mismatched: 0, duplicates: 0 });
    expect(m.target.counts().ticket).toBe(3);
    for (const out of [migrated, verified]) expect(out.stdout + out.stderr).not.toContain(password);

    // Nothing went to an embedded engine: the rows are in the server's database.
    expect(existsSync(join(m.dir, 'state', 'ledger'))).toBe(false);
    const client = createClient({ url: clickhouse.url, username: user, password, database });
    const count = async (table: string) => {
      const rows = await (await client.query({ query: `SELECT count() AS n FROM ${table} WHERE migration = {m:String}`, query_params: { m: m.config.name }, format: 'JSONEachRow' })).json<{ n: string }>();
      return Number(rows[0].n);
    };
    expect(await count('runs')).toBeGreaterThan(0);
    expect(await count('load_attempts')).toBeGreaterThanOrEqual(3);
    expect(await count('verifications')).toBeGreaterThanOrEqual(3);
    await client.close();
  });

  it('stops with LEDGER_FAILED (exit 3) on a refused password, without printing it', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const refused = await hdm(['verify', '--config', m.configFile, '--clickhouse-url', clickhouse.url], { ...m.env, HDM_LEDGER_USER: user, HDM_LEDGER_PASSWORD: wrong });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('LEDGER_FAILED');
    expect(refused.stderr).toContain('Authentication failed');
    // One clear line, not the HTTP client's own log of the request with its stack.
    expect(refused.stderr).not.toContain('@clickhouse/client');
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
  });
});
