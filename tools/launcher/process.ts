import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Process and port helpers shared by the launchers of long-running servers (RT, Kafka, the schema registry). */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM to the server's process group, SIGKILL after `graceMs`. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!alive(pid)) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) signal('SIGKILL');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

/** Runs a command to completion, appending its output to `logFile`; throws with the output's tail on failure. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; logFile?: string; timeoutMs?: number } = {},
): string {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: options.env ?? process.env,
    cwd: options.cwd,
    input: options.input ?? '',
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (options.logFile) writeFileSync(options.logFile, `$ ${command} ${args.join(' ')}\n${output}\n`, { flag: 'a' });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}${options.logFile ? ` (log: ${options.logFile})` : ''}:\n${output.slice(-2000)}`);
  }
  return result.stdout;
}

/** Starts a detached server in its own process group, its output appended to `logFile`. */
export function spawnDetached(command: string, args: string[], options: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): number {
  const fd = openSync(options.logFile, 'a');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  return child.pid ?? 0;
}

export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function tail(file: string, chars = 3000): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '';
}

/** Polls `check` until it is true, the process dies, or the deadline passes. */
export async function waitHealthy(check: () => Promise<boolean>, pid: number, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    if (!alive(pid)) return false;
    await sleep(intervalMs);
  }
  return false;
}

/**
 * How long a running instance may take to answer before it counts as broken. A shared server under
 * load (two test files, a busy machine) can miss one health check; restarting it then would pull it
 * from under the processes using it.
 */
export const REUSE_PATIENCE_MS = 30_000;

/**
 * Whether the recorded server process still runs and answers, waiting up to `patienceMs` for a slow
 * one. False at once when the process is gone.
 */
export function stillServing(pid: number, check: () => Promise<boolean>, patienceMs = REUSE_PATIENCE_MS): Promise<boolean> {
  return alive(pid) ? waitHealthy(check, pid, patienceMs, 500) : Promise.resolve(false);
}

export function stateFile(dir: string): string {
  return join(dir, 'state.json');
}
