import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../tools/launcher/instance.ts';

/**
 * A user who does not clone: `npm pack`, `npm install ./helpdesk-migrator-x.y.z.tgz` into an empty
 * folder, then `npx hdm …` from there. Nothing of the checkout is reachable from that folder, and
 * the install has the runtime dependencies only, so a path into the source tree, a file missing
 * from package.json's `files` or a dev dependency needed at run time fails here.
 */
const work = mkdtempSync(join(tmpdir(), 'hdm-installed-'));
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) stop(child);
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  rmSync(work, { recursive: true, force: true });
});

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; files: string[] };

// The suite's own npm settings (npm test sets npm_config_*) must not shape a user's install.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

interface Result {
  code: number | null;
  stdout: string;
  out: string;
}

function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let out = '';
    child.stdout.on('data', (d) => ((stdout += d), (out += d)));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => stop(child, 'SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, out });
    });
  });
}

// npx runs hdm in a child of its own: the whole process group is signalled so neither outlives the test.
function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A long-running `npx hdm …` whose first stdout line is JSON. */
async function startJson<T>(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn('npx', args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    lines.close();
    return { child, info: JSON.parse(line) as T };
  }
  throw new Error(`npx ${args.join(' ')} exited with ${child.exitCode} before printing its address:\n${err.slice(-3000)}`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

// `--no`: a missing local bin must fail, not fetch some other package called hdm from the registry;
// `--` after it, or npx takes `hdm` for the flag's value and answers `--version` with npm's own.
const npx = (args: string[]) => ['--no', '--', 'hdm', ...args];

describe('helpdesk-migrator as an installed package', () => {
  it('packs, installs into an empty folder and runs quickstart, sandbox, migrate and serve api from there', async () => {
    const packDir = join(work, 'pack');
    mkdirSync(packDir);
    const packed = await run('npm', ['pack', '--json', '--pack-destination', packDir], repoRoot);
    expect(packed.code, packed.out.slice(-3000)).toBe(0);
    const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const shipped = files.map((f) => f.path);
    expect(shipped).toEqual(expect.arrayContaining(['bin/hdm.mjs', 'dashboards/index.html', 'dashboards/dashboard.js', 'dashboards/dashboard.css', 'services/cli/main.ts']));
    expect(shipped.filter((p) => /^(tests|bench|\.ci)\//.test(p) || p === 'vitest.config.ts')).toEqual([]);

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'helpdesk-user', private: true }));
    const installed = await run('npm', ['install', join(packDir, filename), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], app, {}, 240_000);
    expect(installed.out.match(/npm error .*/g) ?? [], installed.out.slice(-3000)).toEqual([]);
    expect(installed.code, installed.out.slice(-3000)).toBe(0);
    const installedDir = join(app, 'node_modules', 'helpdesk-migrator');
    for (const dev of ['vitest', 'typescript', 'testcontainers', 'playwright-core']) expect(existsSync(join(app, 'node_modules', dev)), dev).toBe(false);
    const packageFiles = filesUnder(installedDir);

    const version = await run('npx', npx(['--version']), app);
    expect(version.code, version.out).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);

    const quick = await run('npx', npx(['quickstart', '--tickets', '20', '--no-progress']), app);
    expect(quick.code, quick.out.slice(-3000)).toBe(0);
    expect(quick.stdout).toContain('reconciliation clean: nothing missing, mismatched, duplicated or failed');

    type SandboxInfo = { url: string; env: Record<string, string> };
    const [source, target] = await Promise.all([
      startJson<SandboxInfo>(npx(['sandbox', 'zendesk', '--tickets', '8', '--seed', '4', '--unthrottled', '--json']), app),
      startJson<SandboxInfo>(npx(['sandbox', 'freshdesk', '--unthrottled', '--json']), app),
    ]);
    const platformEnv = { ...source.info.env, ...target.info.env };
    const name = 'installed-zendesk-to-freshdesk';
    writeFileSync(
      join(app, 'migration.yaml'),
      stringify({ name, source: { platform: 'zendesk', url: source.info.url }, target: { platform: 'freshdesk', url: target.info.url } }),
    );

    const migrated = await run('npx', npx(['migrate', '--config', 'migration.yaml', '--no-progress']), app, platformEnv);
    expect(migrated.code, migrated.out.slice(-3000)).toBe(0);

    const created = await run('npx', npx(['token', 'create', '--role', 'viewer', '--label', 'test']), app);
    expect(created.code, created.out).toBe(0);
    const auth = { authorization: `Bearer ${created.stdout.trim()}` };
    const api = await startJson<{ url: string; migrations: string[] }>(npx(['serve', 'api', '--config', 'migration.yaml', '--port', '0', '--json']), app, platformEnv);
    expect(api.info.migrations).toEqual([name]);
    const page = await fetch(`${api.info.url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Cutover dashboard');
    expect((await fetch(`${api.info.url}/dashboard/dashboard.js`)).status).toBe(200);
    const me = await fetch(`${api.info.url}/api/me`, { headers: auth });
    expect(await me.json()).toMatchObject({ role: 'viewer' });
    const queries = (await (await fetch(`${api.info.url}/api/queries`, { headers: auth })).json()) as { queries: unknown[] };
    expect(queries.queries.length).toBeGreaterThan(0);
    // The API reads the ledger `hdm migrate` wrote in this folder: its verification was clean.
    const summary = (await (await fetch(`${api.info.url}/api/migrations/${name}/summary`, { headers: auth })).json()) as {
      reconciliation: { verification: { clean: boolean } | null; entities: { entity: string; source: number; loaded: number }[] };
    };
    expect(summary.reconciliation.verification?.clean).toBe(true);
    expect(summary.reconciliation.entities.find((e) => e.entity === 'ticket')).toMatchObject({ source: 8, loaded: 8 });

    const exited = new Promise((resolve) => api.child.once('exit', resolve));
    stop(api.child);
    await exited;

    // Everything the commands kept is the user's: in the folder they ran from, not in node_modules.
    expect(existsSync(join(app, '.hdm', name))).toBe(true);
    expect(filesUnder(installedDir)).toEqual(packageFiles);
  }, 300_000);

  it('builds the image from the same entry point and files (checked statically: no Docker engine runs here)', () => {
    const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+\s/.test(l));
    // The image runs what `npx hdm` runs, installed without dev dependencies like the package.
    const entry = instructions.find((l) => l.startsWith('ENTRYPOINT '))!;
    expect(JSON.parse(entry.slice('ENTRYPOINT '.length))).toEqual(['node', pkg.bin.hdm]);
    expect(instructions).toContain('RUN npm ci --omit=dev --no-audit --no-fund');
    expect(instructions).toContain('COPY . .');
    // Nothing the package ships is left out of the image's build context.
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim().replace(/^\/|\/$/g, '')).filter(Boolean);
    for (const path of pkg.files) expect(ignored.filter((i) => path === i || path.startsWith(`${i}/`)), path).toEqual([]);
    // Without .git in the image, the launchers' state defaults to .hdm/services, inside the one
    // directory the image's user owns.
    expect(ignored).toContain('.git');
    expect(instructions.some((l) => l.startsWith('RUN mkdir -p /app/.hdm && chown node:node /app/.hdm'))).toBe(true);
  });
});
