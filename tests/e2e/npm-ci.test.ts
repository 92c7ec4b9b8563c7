import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../tools/launcher/instance.ts';

// Users' CI and the Dockerfile install with `npm ci`. npm 11 refused the lockfile when it lacked
// chdb's platform packages for other systems ("Missing: @chdb/lib-darwin-arm64@ from lock file"),
// which npm 10 accepted; both majors install this commit's lockfile in a fresh clone.
const clone = mkdtempSync(join(tmpdir(), 'hdm-npm-ci-'));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

function sh(command: string, args: string[], cwd: string, timeoutMs = 150_000) {
  // The suite's own npm settings (npm test sets npm_config_*) must not shape a user's install.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout ?? '', out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

describe('npm ci in a fresh clone', () => {
  it('installs the lockfile with npm 10 and npm 11, and the installed tree runs the quickstart', () => {
    const head = sh('git', ['rev-parse', 'HEAD'], repoRoot).out.trim();
    expect(sh('git', ['clone', '--quiet', '--no-checkout', repoRoot, clone], tmpdir()).code).toBe(0);
    expect(sh('git', ['checkout', '--quiet', head], clone).code).toBe(0);

    for (const major of ['10', '11']) {
      // npm 10 runs dependencies' install scripts, npm 11 skips those package.json's allowScripts does
      // not allow (none is needed); npm 10 is told the same, which also spares a native build.
      const ci = sh('npm', ['exec', '--yes', `--package=npm@${major}`, '--', 'npm', 'ci', '--prefer-offline', '--no-audit', '--no-fund', ...(major === '10' ? ['--ignore-scripts'] : [])], clone);
      expect(ci.out.match(/npm error .*/g) ?? [], `npm ${major} ci:\n${ci.out.slice(-3000)}`).toEqual([]);
      expect(ci.code, ci.out.slice(-3000)).toBe(0);
      expect(existsSync(join(clone, 'node_modules', 'chdb', 'package.json'))).toBe(true);
    }

    const run = sh(process.execPath, ['bin/hdm.mjs', 'quickstart', '--tickets', '20', '--json'], clone, 120_000);
    expect(run.code, run.out.slice(-3000)).toBe(0);
    const result = JSON.parse(run.stdout) as { clean: boolean; entities: { ticket: { source: number; loaded: number } } };
    expect(result.clean).toBe(true);
    expect(result.entities.ticket).toMatchObject({ source: 20, loaded: 20 });
  }, 360_000);
});
