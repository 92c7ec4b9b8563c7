import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../schemas/errors.ts';
import { loadMigrationConfig, parseMigrationConfig, resolveCredentials } from '../../../schemas/config.ts';
import { isIsoDate } from '../../../schemas/mapping.config.ts';

const valid = {
  name: 'acme',
  source: { platform: 'zendesk', url: 'https://acme.zendesk.com' },
  target: { platform: 'freshdesk', url: 'https://acme.freshdesk.com', credentials: { apiKey: { env: 'ACME_FD_KEY' } } },
};

function failure(input: unknown): HdmError {
  try {
    parseMigrationConfig(input, 'm.yaml');
  } catch (err) {
    return err as HdmError;
  }
  throw new Error('expected the config to be rejected');
}

describe('migration config', () => {
  it('takes each side’s plan from that platform’s limit tables, none, or no plan (read from the account)', () => {
    const config = parseMigrationConfig({ ...valid, source: { ...valid.source, plan: 'enterprise', highVolume: true }, target: { ...valid.target, plan: 'none' } });
    expect(config.source.plan).toBe('enterprise');
    expect(config.source.highVolume).toBe(true);
    expect(config.target.plan).toBe('none');
    expect(parseMigrationConfig(valid).source.plan).toBeUndefined();
    const err = failure({ ...valid, source: { ...valid.source, plan: 'team', highVolume: true }, target: { ...valid.target, plan: 'professional' } });
    expect(err.message).toMatch(/target\.plan: a freshdesk plan: trial, growth, pro, enterprise, none \(got "professional"\)/);
    expect(err.message).toMatch(/source\.highVolume: .*Growth and above/);
  });

  it('takes source.fastLane for a Zendesk source and refuses it on a platform without one', () => {
    const zendesk = { ...valid, source: { ...valid.source, platform: 'zendesk', fastLane: false } };
    expect(parseMigrationConfig(zendesk).source.fastLane).toBe(false);
    expect(parseMigrationConfig({ ...valid, source: { ...valid.source, platform: 'zendesk' } }).source.fastLane).toBeUndefined();
    const err = failure({ ...valid, source: { ...valid.source, platform: 'freshdesk', fastLane: true } });
    expect(err.message).toMatch(/source\.fastLane: false: freshdesk has no fast lane/);
  });

  it('takes source.comments (per-ticket, events, auto) for a Zendesk source only', () => {
    for (const comments of ['per-ticket', 'events', 'auto']) {
      expect(parseMigrationConfig({ ...valid, source: { ...valid.source, comments } }).source.comments).toBe(comments);
    }
    expect(parseMigrationConfig(valid).source.comments).toBeUndefined();
    expect(failure({ ...valid, source: { ...valid.source, comments: 'audits' } }).message).toMatch(/source\.comments/);
    const err = failure({ ...valid, source: { ...valid.source, platform: 'freshdesk', comments: 'events' } });
    expect(err.message).toMatch(/source\.comments: no value: freshdesk reads comments one way/);
  });

  it('fills defaults and freezes the result', () => {
    const config = parseMigrationConfig(valid);
    expect(config.options.loaderConcurrency).toBe(16);
    expect(config.entities).toContain('ticket');
    expect(config.ledger.clickhouseUrl).toBeNull();
    expect(Object.isFrozen(config.options)).toBe(true);
  });

  it('names the path, the value and what was expected for each problem', () => {
    const err = failure({ ...valid, source: { platform: 'zendsk', url: 'not a url' }, options: { loaderConcurrency: 0 } });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('m.yaml is invalid');
    expect(err.message).toMatch(/source\.platform: .*"zendesk".*got "zendsk"/);
    expect(err.message).toMatch(/source\.url: .*got "not a url"/);
    expect(err.message).toMatch(/options\.loaderConcurrency: .*got 0/);
  });

  it('statusMap takes the source\'s own (custom) status names as keys, and only target statuses as values', () => {
    const config = parseMigrationConfig({ ...valid, options: { statusMap: { 'cancelled by customer': 'closed', hold: 'pending' } } });
    expect(config.options.statusMap).toEqual({ 'cancelled by customer': 'closed', hold: 'pending' });
    expect(failure({ ...valid, options: { statusMap: { 'cancelled by customer': 'gone' } } }).message).toMatch(/options\.statusMap\.cancelled by customer: .*got "gone"/);
  });

  it('rejects unknown keys instead of ignoring a typo', () => {
    expect(failure({ ...valid, optoins: {} }).message).toContain('optoins');
  });

  it('reads credentials from the environment and names a missing variable, never a value', () => {
    const config = parseMigrationConfig(valid);
    expect(resolveCredentials('target', config.target, { apiKey: 'FRESHDESK_API_KEY' }, { ACME_FD_KEY: 's3cret' })).toEqual({ apiKey: 's3cret' });
    const err = (() => {
      try {
        resolveCredentials('source', config.source, { email: 'ZENDESK_EMAIL', apiToken: 'ZENDESK_API_TOKEN' }, { ZENDESK_EMAIL: 'a@b.c' });
      } catch (e) {
        return e as HdmError;
      }
    })()!;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('source.credentials.apiToken (environment variable ZENDESK_API_TOKEN)');
    expect(err.message).not.toContain('a@b.c');
  });
});

describe('migration config errors never show a secret or another file (regression: they echoed both)', () => {
  it('refuses a secret written inline without repeating it, and says where secrets go', () => {
    const secret = 'inline-s3cret-9c8b7a';
    const err = failure({
      ...valid,
      target: { ...valid.target, credentials: { apiKey: secret } },
      source: { ...valid.source, apiToken: secret },
      ledger: { password: secret },
    });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).not.toContain(secret);
    expect(err.message).toMatch(/target\.credentials\.apiKey: .*\{ env: NAME \}.*not shown: it may be a secret/);
    expect(err.message).toMatch(/ledger\.password: .*not shown/);
    expect(err.message).toMatch(/source: .*"apiToken".*got a mapping/);
  });

  it('shows no value of a file that is not a migration file, by path or YAML syntax error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdm-config-'));
    try {
      const other = join(dir, 'compose.yaml');
      writeFileSync(other, 'services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: hunter2-other-file\nroot: x\n');
      const a = loadFailure(other, 'none');
      expect(a.message).toContain(`${other} is invalid`);
      expect(a.message).toMatch(/\(top level\): 2 unrecognized key\(s\)/);
      for (const content of ['hunter2-other-file', 'POSTGRES_PASSWORD', 'services', 'root']) expect(a.message).not.toContain(content);

      const broken = join(dir, 'broken.yaml');
      writeFileSync(broken, 'token: abc\n  secret-line: s3cr3t-in-line: x\n');
      const b = loadFailure(broken);
      expect(b.message).toMatch(/is not valid YAML: [A-Z_]+ at line \d+, column \d+$/);
      expect(b.message).not.toContain('s3cr3t-in-line');

      const scalar = join(dir, 'scalar.yaml');
      writeFileSync(scalar, 'just-a-line-of-another-file\n');
      expect(loadFailure(scalar).message).not.toContain('just-a-line');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bad input in a migration file (regression: accepted, then run against both platforms)', () => {
  it('refuses impossible dates, naming path, value and expectation', () => {
    for (const bad of ['2023-02-31', '2023-02-29', '2023-13-01', '2023-00-10', '2023-04-31T10:00:00Z', '2023-01-01T24:00:00Z', '2023-01-01T10:60:00Z', 'March 3 2023', '2023-1-5']) {
      const err = failure({ ...valid, filters: { createdFrom: bad } });
      expect(err.message, bad).toContain(`filters.createdFrom: a date (YYYY-MM-DD) or an ISO-8601 instant (got ${JSON.stringify(bad)})`);
    }
    for (const good of ['2024-02-29', '2023-12-31', '2023-04-30T23:59:59Z', '2023-04-30T10:00:00+02:00', '2023-04-30T10:00:00.123Z']) {
      expect(() => parseMigrationConfig({ ...valid, filters: { updatedTo: good } }), good).not.toThrow();
    }
    expect(isIsoDate('2023-02-28')).toBe(true);
  });

  it('refuses a value holding a byte that is not UTF-8, at its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdm-config-'));
    try {
      const file = join(dir, 'm.yaml');
      const yaml = Buffer.from(`name: acme\nsource: { platform: zendesk, url: "https://acme.zendesk.com" }\ntarget: { platform: freshdesk, url: "https://acme.freshdesk.com" }\nfilters:\n  tags: [vip, caf`);
      writeFileSync(file, Buffer.concat([yaml, Buffer.from([0xe9]), Buffer.from(']\n')]));
      const err = loadFailure(file);
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toMatch(/filters\.tags\.1: text in UTF-8 .*\(got "caf\uFFFD"\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a ledger database that is not a plain name (it is interpolated into CREATE DATABASE)', () => {
    const err = failure({ ...valid, ledger: { database: 'hdm; DROP DATABASE system' } });
    expect(err.message).toMatch(/ledger\.database: a database name.*\(got "hdm; DROP DATABASE system"\)/);
    expect(parseMigrationConfig({ ...valid, ledger: { database: 'hdm_2' } }).ledger.database).toBe('hdm_2');
  });
});

function loadFailure(file: string, quoting?: 'none'): HdmError {
  try {
    loadMigrationConfig(file, quoting);
  } catch (err) {
    return err as HdmError;
  }
  throw new Error('expected the file to be rejected');
}
