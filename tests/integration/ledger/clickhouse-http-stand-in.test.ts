import { createClient, ClickHouseError } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyClickHouse, ensureClickHouse } from '../../../tools/launcher/clickhouse.launcher.ts';

// The stand-in of ClickHouse's HTTP interface that the ledger's server tests run against: it must
// answer @clickhouse/client (and plain HTTP) as a ClickHouse server does, or those tests prove nothing.
const INSTANCE = 'clickhouse-http-test';
const user = 'hdm_test';
const password = `pw-${randomBytes(6).toString('hex')}`;

afterAll(async () => {
  await destroyClickHouse({ name: INSTANCE });
});

describe('ClickHouse HTTP interface stand-in', () => {
  it('starts once, is reused, restarts for another password and keeps its data', async () => {
    const first = await ensureClickHouse({ name: INSTANCE, user, password });
    const again = await ensureClickHouse({ name: INSTANCE, user, password });
    expect(again.pid).toBe(first.pid);
    expect(again.url).toBe(first.url);
    const client = createClient({ url: first.url, username: user, password });
    await client.command({ query: 'CREATE TABLE IF NOT EXISTS kept (id UInt32) ENGINE = MergeTree ORDER BY id' });
    await client.insert({ table: 'kept', values: [{ id: 7 }], format: 'JSONEachRow' });
    await client.close();

    const other = `${password}-2`;
    const restarted = await ensureClickHouse({ name: INSTANCE, user, password: other });
    expect(restarted.pid).not.toBe(first.pid);
    const refused = await fetch(`${restarted.url}/?query=SELECT%201`, { headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password } });
    expect(refused.status).toBe(403);
    const reader = createClient({ url: restarted.url, username: user, password: other });
    expect(await (await reader.query({ query: 'SELECT id FROM kept', format: 'JSONEachRow' })).json()).toEqual([{ id: 7 }]);
    await reader.close();
    await ensureClickHouse({ name: INSTANCE, user, password });
  });

  it('answers /ping without credentials and refuses wrong ones with code 516 in the server format', async () => {
    const { url } = await ensureClickHouse({ name: INSTANCE, user, password });
    const ping = await fetch(`${url}/ping`);
    expect([ping.status, await ping.text()]).toEqual([200, 'Ok.\n']);
    const wrong = await fetch(`${url}/?query=SELECT%201`, { headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': 'nope' } });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get('x-clickhouse-exception-code')).toBe('516');
    expect(await wrong.text()).toMatch(/^Code: 516\. DB::Exception: hdm_test: Authentication failed: .* \(AUTHENTICATION_FAILED\) \(version \d+\.[\d.]+\)\n$/);
    const right = await fetch(`${url}/?query=SELECT%20currentUser()%20IS%20NOT%20NULL`, { headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password } });
    expect([right.status, await right.text()]).toEqual([200, '1\n']);
  });

  it('speaks gzip both ways with the client', async () => {
    const { url } = await ensureClickHouse({ name: INSTANCE, user, password });
    const client = createClient({ url, username: user, password, compression: { request: true, response: true } });
    await client.command({ query: 'CREATE TABLE IF NOT EXISTS zipped (id UInt32, note String) ENGINE = MergeTree ORDER BY id' });
    const values = Array.from({ length: 500 }, (_, i) => ({ id: i, note: `note ${i} ${'x'.repeat(50)}` }));
    await client.insert({ table: 'zipped', values, format: 'JSONEachRow' });
    const result = await client.query({ query: 'SELECT count() AS n, max(id) AS top FROM zipped', format: 'JSONEachRow' });
    expect(result.response_headers['content-encoding']).toBe('gzip');
    // 64-bit integers come quoted or not depending on the server version's default: compare numbers.
    const [row] = await result.json<{ n: string | number; top: number }>();
    expect([Number(row.n), row.top]).toEqual([500, 499]);
    await client.close();
  });

  it('raises engine errors through the client with their code and type, settings lasting one request', async () => {
    const { url } = await ensureClickHouse({ name: INSTANCE, user, password });
    const client = createClient({ url, username: user, password, database: 'no_such_db' });
    const unknownDb = await client.query({ query: 'SELECT 1' }).catch((e: unknown) => e);
    expect(unknownDb).toBeInstanceOf(ClickHouseError);
    expect(unknownDb).toMatchObject({ code: '81', type: 'UNKNOWN_DATABASE' });
    await client.close();

    const ok = createClient({ url, username: user, password });
    await expect(ok.query({ query: 'SELECT * FROM missing_table' })).rejects.toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    await expect(ok.command({ query: 'CREATE TABLE ro (a UInt8) ENGINE = Memory', clickhouse_settings: { readonly: '1' } })).rejects.toMatchObject({ type: 'READONLY' });
    const setting = await ok.query({ query: "SELECT toUInt8(getSetting('max_threads')) AS t", format: 'JSONEachRow', clickhouse_settings: { max_threads: 3 } });
    expect(await setting.json()).toEqual([{ t: 3 }]);
    const after = await ok.query({ query: "SELECT toUInt8(getSetting('readonly')) AS r, toUInt8(getSetting('max_threads') != 3) AS reset", format: 'JSONEachRow' });
    expect(await after.json()).toEqual([{ r: 0, reset: 1 }]);
    await expect(ok.query({ query: 'SELECT 1', session_id: 'one' })).rejects.toMatchObject({ type: 'NOT_IMPLEMENTED' });
    await ok.close();
  });
});
