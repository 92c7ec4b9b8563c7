import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCommand } from '../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

/** Runs `hdm migrate` in a child process; kills it with SIGKILL after `killAfterMs` unless it ends first. */
function runMigrate(m: MigrationEnv, killAfterMs: number | null): Promise<{ code: number | null; killed: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, 'migrate', '--config', m.configFile, '--no-verify', '--no-progress', '--json'], {
      env: m.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let killed = false;
    const timer = killAfterMs === null ? null : setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, killAfterMs);
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, killed, stderr });
    });
  });
}

// A small deterministic PRNG, so a failing sequence of kill points can be replayed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('a migration killed with SIGKILL at random points and resumed', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 150, seed: 21, articles: 10, unthrottled: '150 tickets with up to 30 comments each, crashed and resumed are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '150 tickets with up to 30 comments each, crashed and resumed are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
  });
  afterAll(async () => m?.close());

  it('ends with 0 missing and 0 duplicates', async () => {
    const seed = Number(process.env.HDM_CRASH_SEED ?? 20261122);
    const random = prng(seed);
    const kills: number[] = [];
    let finished = false;
    for (let attempt = 0; attempt < 6 && !finished; attempt++) {
      const delay = Math.round(1500 + random() * 3500);
      const result = await runMigrate(m, delay);
      if (result.killed) kills.push(delay);
      else {
        expect(result.code, result.stderr).toBe(0);
        finished = true;
      }
    }
    if (!finished) {
      const last = await runMigrate(m, null);
      expect(last.code, last.stderr).toBe(0);
    }
    expect(kills.length, `kill points (seed ${seed}): ${kills.join(', ')}`).toBeGreaterThanOrEqual(2);

    const out = captureOutput();
    const code = await verifyCommand(parseMigrationConfig(m.config), { json: true }, out, m.env);
    const report = JSON.parse(out.stdout.join('\n'));
    for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
      expect(stats.missing, `${entity} missing after kills at ${kills.join(', ')} ms`).toBe(0);
      expect(stats.duplicates, `${entity} duplicates after kills at ${kills.join(', ')} ms`).toBe(0);
      expect(stats.mismatched, `${entity} mismatched: ${JSON.stringify(report.issues)}`).toBe(0);
    }
    expect(code).toBe(0);
    // The target holds exactly one ticket per source ticket, whatever the stamps say.
    expect(m.target.counts().ticket).toBe(150);
    expect(m.target.counts().contact).toBe(m.source.counts().contact);
  });
});
