import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { privateDir } from '../../../../services/common/private-files.ts';
import { FileCheckpointStore } from '../../../../services/poller/checkpoint-store.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('state directories (regression: world-readable, with whole ticket payloads in them)', () => {
  it('are created owner-only, parents included, and an existing one is tightened', () => {
    const root = mkdtempSync(join(tmpdir(), 'hdm-private-'));
    try {
      const fresh = privateDir(join(root, 'a', 'b'));
      expect(mode(fresh)).toBe(0o700);
      expect(mode(join(root, 'a'))).toBe(0o700);
      const old = join(root, 'old');
      mkdirSync(old, { mode: 0o755 });
      expect(mode(old)).not.toBe(0o700);
      privateDir(old);
      expect(mode(old)).toBe(0o700);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('hold checkpoints readable by their owner only', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hdm-private-'));
    try {
      const store = new FileCheckpointStore(join(root, 'state'));
      await store.save({ full: null });
      expect(mode(join(root, 'state'))).toBe(0o700);
      expect(mode(join(root, 'state', 'checkpoints.json'))).toBe(0o600);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
