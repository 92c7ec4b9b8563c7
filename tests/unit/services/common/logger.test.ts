import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../services/common/logger.ts';
import { redactor } from '../../../../schemas/redact.ts';

describe('secrets in logs', () => {
  it('never reach the log file, plain, base64-encoded or under a credential key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdm-log-'));
    const file = join(dir, 'hdm.log');
    const secret = 'tok-5f1e-very-secret';
    redactor.add(secret);
    const logger = createLogger({ file, level: 'info' });
    logger.warn({ credentials: { apiToken: 'other-value-xyz' }, apiKey: 'key-abc-123' }, `request failed with Authorization ${secret}`);
    logger.info({ header: `Basic ${Buffer.from(secret).toString('base64')}` }, 'retrying');
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('request failed');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    expect(text).not.toContain('other-value-xyz');
    expect(text).not.toContain('key-abc-123');
    rmSync(dir, { recursive: true, force: true });
  });
});
