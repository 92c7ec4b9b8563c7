import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import { destroyClickHouse, ensureClickHouse, type ClickHouseInstance } from '../../../tools/launcher/clickhouse.launcher.ts';
import { freePort } from '../../../tools/launcher/process.ts';
import { openLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import { ledgerSuite } from './ledger-suite.ts';

// The ledger's URL path: @clickhouse/client over HTTP to the project's stand-in of ClickHouse's HTTP
// interface (tools/launcher/clickhouse-http), which runs the SQL on the ClickHouse engine. No
// ClickHouse server can be installed here; the protocol and the SQL are those a server takes.
const INSTANCE = 'ledger-server-test';
const user = 'hdm_ledger';
const password = `pw-${randomBytes(6).toString('hex')}`;
// A database of its own per run: the ledger creates it, as it must on a fresh server.
const database = `hdm_${randomBytes(4).toString('hex')}`;
let clickhouse: ClickHouseInstance;

beforeAll(async () => {
  clickhouse = await ensureClickHouse({ name: INSTANCE, user, password });
});
afterAll(async () => {
  await destroyClickHouse({ name: INSTANCE });
});

ledgerSuite(
  'ClickHouse server over HTTP',
  (migration) => openLedger({ migration, url: clickhouse.url, username: user, password, database, flushIntervalMs: 5 }),
  { sql: true },
);

describe('ClickHouse ledger on a server that refuses or is away', () => {
  it('names a refused login as LEDGER_FAILED, without the password', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const err = await openLedger({ migration: 'm1', url: clickhouse.url, username: user, password: wrong, database }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HdmError);
    expect((err as HdmError).code).toBe('LEDGER_FAILED');
    expect((err as HdmError).message).toContain(`the ClickHouse server at ${clickhouse.url}/ refused the ledger`);
    expect((err as HdmError).message).toContain('Authentication failed');
    expect(String(err) + JSON.stringify(err)).not.toContain(wrong);
  });

  it('keeps a password given in the URL out of the error', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const err = (await openLedger({ migration: 'm1', url: `http://${user}:${wrong}@127.0.0.1:${clickhouse.port}`, database }).catch((e: unknown) => e)) as HdmError;
    expect(err.code).toBe('LEDGER_FAILED');
    expect(err.message).toContain('Authentication failed');
    expect(err.message).not.toContain(wrong);
  });

  it('names an unreachable server as LEDGER_FAILED with its address', async () => {
    const port = await freePort();
    const err = (await openLedger({ migration: 'm1', url: `http://127.0.0.1:${port}`, database }).catch((e: unknown) => e)) as HdmError;
    expect(err).toBeInstanceOf(HdmError);
    expect(err.code).toBe('LEDGER_FAILED');
    expect(err.message).toContain(`cannot reach the ClickHouse server at http://127.0.0.1:${port}/`);
    expect(err.message).toContain('ECONNREFUSED');
  });
});
