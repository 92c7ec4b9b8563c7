import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { roleAtLeast, TokenStore } from '../../../../services/api/tokens.ts';

const dirs: string[] = [];
const store = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hdm-tokens-'));
  dirs.push(dir);
  return new TokenStore(dir);
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('TokenStore', () => {
  it('keeps only a hash, in a file only its owner reads, and verifies the token it printed', () => {
    const s = store();
    const { token, info } = s.create('operator', 'night shift');
    expect(token).toMatch(/^hdm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(s.file, 'utf8');
    expect(text).not.toContain(token.slice('hdm_'.length + 13));
    expect(statSync(s.file).mode & 0o777).toBe(0o600);
    expect(s.verify(token)).toEqual(info);
    expect(s.list()).toEqual([info]);
  });

  it('refuses a changed secret, an unknown id, garbage, and a revoked token', () => {
    const s = store();
    const { token, info } = s.create('viewer');
    const secret = token.slice('hdm_'.length + 13);
    const flipped = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(s.verify(`hdm_${info.id}_${flipped}`)).toBeNull();
    expect(s.verify(`hdm_ffffffffffff_${secret}`)).toBeNull();
    expect(s.verify('')).toBeNull();
    expect(s.verify(`${token} `)).toBeNull();
    expect(s.revoke(info.id)).toBe(true);
    expect(s.verify(token)).toBeNull();
    expect(s.revoke(info.id)).toBe(false);
  });

  it('rejects an unknown role', () => {
    expect(() => store().create('root' as never)).toThrow(/viewer, operator, admin/);
  });

  it('ranks roles viewer < operator < admin', () => {
    expect(roleAtLeast('admin', 'operator')).toBe(true);
    expect(roleAtLeast('operator', 'operator')).toBe(true);
    expect(roleAtLeast('viewer', 'operator')).toBe(false);
    expect(roleAtLeast('operator', 'admin')).toBe(false);
  });
});
