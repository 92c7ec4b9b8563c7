import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceStateDir } from './instance.ts';
import { withLock } from './lock.ts';

/**
 * Installs Debian's Chromium for the dashboard's browser tests. Playwright's own browser downloads
 * are never used: the package manager is the one source of binaries.
 */
export const CHROMIUM_PACKAGES = ['chromium'] as const;
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a headless run that reaches nothing but the pages it is sent to. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function stateDir(): string {
  return serviceStateDir('chromium');
}

export function chromiumInstalled(): boolean {
  const out = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status}', ...CHROMIUM_PACKAGES], { encoding: 'utf8' });
  return !out.error && out.stdout.trim() === 'installed' && existsSync(CHROMIUM_PATH);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8', env, input: '', maxBuffer: 64 * 1024 * 1024 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  writeFileSync(logFile, `$ ${command} ${args.join(' ')}\n${output}\n`, { flag: 'a' });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status} (log: ${logFile}):\n${output.slice(-2000)}`);
}

/** Installs Chromium from Debian's packages when missing (needs root, as CI has); returns the milliseconds spent. */
export async function ensureChromium(options: { log?: (line: string) => void } = {}): Promise<{ path: string; installMs: number }> {
  if (chromiumInstalled()) return { path: CHROMIUM_PATH, installMs: 0 };
  const dir = stateDir();
  mkdirSync(dir, { recursive: true });
  const installMs = await withLock(join(dir, 'install.lock'), async () => {
    if (chromiumInstalled()) return 0;
    if (process.getuid?.() !== 0) {
      throw new Error(`Chromium is not installed and installing it needs root: run as root, or install it first: apt-get install ${CHROMIUM_PACKAGES.join(' ')}`);
    }
    const started = performance.now();
    const logFile = join(dir, 'install.log');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', DEBCONF_NONINTERACTIVE_SEEN: 'true', APT_LISTCHANGES_FRONTEND: 'none', NEEDRESTART_MODE: 'a' };
    options.log?.(`installing ${CHROMIUM_PACKAGES.join(' ')} (log: ${logFile})`);
    // Other installs (RT's) may hold dpkg's lock: wait for it rather than fail.
    const lockWait = ['-o', 'DPkg::Lock::Timeout=900'];
    run('apt-get', [...lockWait, 'update', '-q'], env, logFile);
    run('apt-get', [...lockWait, 'install', '-y', '-q', '--no-install-recommends', ...CHROMIUM_PACKAGES], env, logFile);
    const ms = performance.now() - started;
    options.log?.(`installed in ${(ms / 1000).toFixed(1)}s`);
    return ms;
  });
  return { path: CHROMIUM_PATH, installMs };
}
