import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HdmError } from '../../schemas/errors.ts';
import { privateDir } from '../common/private-files.ts';

/** viewer reads; operator also starts runs and tests connections; admin also manages tokens and migrations. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export interface TokenInfo {
  id: string;
  role: Role;
  label: string;
  createdAt: string;
}

interface StoredToken extends TokenInfo {
  /** sha256 of the secret part: the token is 32 random bytes, so a slow hash would add nothing. */
  hash: string;
}

const PREFIX = 'hdm';
const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Bearer tokens of the API, kept hashed in one JSON file (mode 0600). A token reads
 * `hdm_<id>_<secret>`: the id finds the row, the secret is compared by hash in constant time.
 */
export class TokenStore {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'tokens.json');
  }

  private load(): StoredToken[] {
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as { tokens?: StoredToken[] };
      return Array.isArray(data.tokens) ? data.tokens : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new HdmError('CONFIG_INVALID', `the token file ${this.file} is unreadable: ${(err as Error).message}`);
    }
  }

  private save(tokens: StoredToken[]): void {
    privateDir(dirname(this.file));
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ tokens }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }

  /** Creates a token; its secret exists only in the returned value. */
  create(role: Role, label = ''): { token: string; info: TokenInfo } {
    if (!ROLES.includes(role)) throw new HdmError('CONFIG_INVALID', `role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`);
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const info: TokenInfo = { id, role, label, createdAt: new Date().toISOString() };
    this.save([...this.load(), { ...info, hash: hashOf(secret) }]);
    return { token: `${PREFIX}_${id}_${secret}`, info };
  }

  list(): TokenInfo[] {
    return this.load().map(({ id, role, label, createdAt }) => ({ id, role, label, createdAt }));
  }

  /** Removes a token; false when no token has that id. */
  revoke(id: string): boolean {
    const tokens = this.load();
    const kept = tokens.filter((t) => t.id !== id);
    if (kept.length === tokens.length) return false;
    this.save(kept);
    return true;
  }

  /** The token's info when the presented value is a live token, else null. */
  verify(presented: string): TokenInfo | null {
    const m = /^hdm_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(presented);
    if (!m) return null;
    const row = this.load().find((t) => t.id === m[1]);
    if (!row) return null;
    const want = Buffer.from(row.hash, 'hex');
    const got = Buffer.from(hashOf(m[2]), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    return { id: row.id, role: row.role, label: row.label, createdAt: row.createdAt };
  }
}
