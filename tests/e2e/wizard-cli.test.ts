import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { hdm } from '../helpers/hdm-process.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';


describe('hdm mapping suggest and hdm demo from the command line', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('freshdesk', 'zendesk', { tickets: 15, seed: 71, articles: 3, maxComments: 2 }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
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
