import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { hdm } from '../helpers/hdm-process.ts';


describe('hdm estimate and hdm undo on the command line', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 3, seed: 2, articles: 1 });
  });
  afterAll(async () => m?.close());

  it('documents both commands', async () => {
    const top = await hdm(['--help'], m.env);
    expect(top.stdout).toContain('estimate');
    expect(top.stdout).toContain('undo');
    const undo = await hdm(['undo', '--help'], m.env);
    expect(undo.stdout).toContain('--yes');
    expect(undo.stdout).toContain('<runId>');
  });

  it('estimates as JSON, with progress on stderr only without --json', async () => {
    const json = await hdm(['estimate', '--config', m.configFile, '--json'], m.env);
    expect(json.code, json.stderr).toBe(0);
    const e = JSON.parse(json.stdout);
    expect(e.entities.ticket).toEqual({ count: 3, method: 'count', billable: true });
    expect(e.totalSeconds).toBeGreaterThan(0);
    const text = await hdm(['estimate', '--config', m.configFile], m.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/billable total\s+\d+/);
    expect(text.stderr).toContain('counting ticket: 3');
  });

  it('refuses an unknown run, naming it (exit 2), and a dry run deletes nothing', async () => {
    const bad = await hdm(['undo', 'full-nope', '--config', m.configFile], m.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no run full-nope');
    const migrated = await hdm(['migrate', '--config', m.configFile, '--json', '--no-verify', '--no-progress'], m.env);
    expect(migrated.code, migrated.stderr).toBe(0);
    const runId = JSON.parse(migrated.stdout).run.runId;
    const dry = await hdm(['undo', runId, '--config', m.configFile], m.env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('add --yes');
    expect(m.target.counts().ticket).toBe(3);
    const real = await hdm(['undo', runId, '--config', m.configFile, '--yes', '--json'], m.env);
    expect(real.code, real.stderr).toBe(0);
    expect(JSON.parse(real.stdout).entities.ticket.deleted).toBe(3);
    expect(m.target.counts().ticket).toBe(0);
  });
});
