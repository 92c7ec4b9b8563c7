import { describe, expect, it } from 'vitest';
import { isReadStatement, openLedger } from '../../../../services/ledger/clickhouse-ledger.ts';

describe('isReadStatement', () => {
  it('accepts one reading statement, with comments and a final semicolon', () => {
    expect(isReadStatement('-- title\n-- about\nSELECT 1')).toBe(true);
    expect(isReadStatement('/* x */ WITH a AS (SELECT 1) SELECT * FROM a;')).toBe(true);
    expect(isReadStatement("SELECT ';' AS semicolon")).toBe(true);
  });
  it('refuses writes, several statements and files', () => {
    expect(isReadStatement('INSERT INTO runs VALUES (1)')).toBe(false);
    expect(isReadStatement('ALTER TABLE runs DELETE WHERE 1')).toBe(false);
    expect(isReadStatement('SELECT 1; DROP TABLE runs')).toBe(false);
    expect(isReadStatement("SELECT 1 INTO OUTFILE '/tmp/x'")).toBe(false);
    expect(isReadStatement('-- SELECT\nDROP TABLE runs')).toBe(false);
  });
});

describe('openLedger on a server', () => {
  it('refuses a database name that is not a plain identifier before connecting (it goes into CREATE DATABASE as is)', async () => {
    const err = await openLedger({ migration: 'm', url: 'http://127.0.0.1:1', database: 'hdm; DROP DATABASE system' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', context: { field: 'ledger.database' } });
    expect(err.message).toContain('got "hdm; DROP DATABASE system"');
  });
});
