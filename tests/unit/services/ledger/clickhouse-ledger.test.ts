import { describe, expect, it } from 'vitest';
import { isReadStatement, openLedger, outsideQueryProblem } from '../../../../services/ledger/clickhouse-ledger.ts';

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

describe('outsideQueryProblem', () => {
  it('names the table function that reaches outside, however it is spelled', () => {
    expect(outsideQueryProblem("SELECT * FROM `file`('x', 'LineAsString')")).toMatch(/^file\(\) reaches files/);
    expect(outsideQueryProblem("SELECT * FROM \"executable\" ('x', 'TSV', 'a String')")).toMatch(/^executable\(\)/);
    expect(outsideQueryProblem("SELECT '--', * FROM url('http://x', 'TSV')")).toMatch(/^url\(\)/);
    expect(outsideQueryProblem("SELECT 1 # a comment\n, 2 SETTINGS readonly=0")).toMatch(/^SETTINGS/);
    expect(outsideQueryProblem("SELECT 'a', 'it''s', 'file(x)', $t$url('x')$t$")).toBeNull();
    expect(outsideQueryProblem('SELECT count() FROM load_attempts WHERE migration = {migration:String}')).toBeNull();
  });
});
