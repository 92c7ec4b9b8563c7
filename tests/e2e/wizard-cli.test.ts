import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

function hdm(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('hdm mapping suggest and hdm demo from the command line', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('freshdesk', 'zendesk', { tickets: 15, seed: 71, articles: 3, maxComments: 2 });
  });
  afterAll(async () => m?.close());

  it('suggests a mapping, demos it, and refuses a bad reference with exit 2', async () => {
    const mapping = join(m.dir, 'mapping.yaml');
    const suggest = await hdm(['mapping', 'suggest', '--config', m.configFile, '--out', mapping], m.env);
    expect(suggest.stderr).toContain(`wrote ${mapping}`);
    expect(suggest.code).toBe(0);
    expect(readFileSync(mapping, 'utf8')).toContain('statusMap:');

    const demo = await hdm(['demo', '--config', mapping, '--count', '3', '--json'], m.env);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stderr).toContain('checking it field by field');
    const report = JSON.parse(demo.stdout);
    expect(report.records.filter((r: { entity: string }) => r.entity === 'ticket')).toHaveLength(3);
    expect(existsSync(report.files.html)).toBe(true);

    const text = await hdm(['demo', '--config', mapping, '--tickets', report.records[0].sourceId], m.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`ticket ${report.records[0].sourceId} → ${report.records[0].targetId}`);
    expect(text.stdout).toContain('report: ');

    const bad = await hdm(['demo', '--config', mapping, '--tickets', '123456789'], m.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tickets: the source (freshdesk) has no ticket 123456789');
  });
});
