import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withLock } from './lock.ts';
import { alive, freePort, portFree, readJson, spawnDetached, stateFile, stopPid, tail, waitHealthy } from './process.ts';

/**
 * Runs the stand-in of ClickHouse's HTTP interface (clickhouse-http/server.ts, the ClickHouse
 * engine behind a server's HTTP protocol) as a named instance on a loopback port, its data in
 * `.services/clickhouse/instances/<name>`. No ClickHouse server installs here (Debian ships one
 * from 2018, there is no Docker engine and no release download); users point
 * `ledger.clickhouseUrl` at their own server.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ClickHouseLaunchOptions {
  /** Instance name. Default `default`. */
  name?: string;
  /** Port; 0 keeps the instance's previous port or picks a free one. Default 0. */
  port?: number;
  /** The one user the server accepts. Default `default`. */
  user?: string;
  /** That user's password. Default empty. A running instance with another password is restarted. */
  password?: string;
  /** State directory. Default `$HDM_SERVICES_DIR/clickhouse` or `<repo>/.services/clickhouse`. */
  stateDir?: string;
  /** Milliseconds to wait for the server to answer. Default 60000. */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ClickHouseInstance {
  name: string;
  /** Base URL for `@clickhouse/client` (`ledger.clickhouseUrl`), without credentials. */
  url: string;
  port: number;
  pid: number;
  user: string;
  dir: string;
  timings: { startMs: number };
  stop(): Promise<void>;
}

interface InstanceState {
  pid: number;
  port: number;
  user: string;
  /** Salted SHA-256 of the password: enough to tell whether the running instance has the one asked for. */
  passwordHash: string;
  salt: string;
}

const hash = (secret: string, salt: string) => createHash('sha256').update(salt).update(secret).digest('hex');

export function clickHouseStateDir(stateDir?: string): string {
  return resolve(stateDir ?? (process.env.HDM_SERVICES_DIR ? join(process.env.HDM_SERVICES_DIR, 'clickhouse') : join(repoRoot, '.services', 'clickhouse')));
}

function instanceDir(options: Pick<ClickHouseLaunchOptions, 'name' | 'stateDir'>): string {
  const name = options.name ?? 'default';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`instance name "${name}": use letters, digits, dot, dash, underscore`);
  return join(clickHouseStateDir(options.stateDir), 'instances', name);
}

/** True when `GET /ping` answers `Ok.` (no credentials needed, as on a server). */
export async function clickHouseHealthy(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.status === 200 && (await res.text()) === 'Ok.\n';
  } catch {
    return false;
  }
}

/** Makes sure the named instance runs with these credentials and answers; reuses a healthy one. Safe across processes. */
export async function ensureClickHouse(options: ClickHouseLaunchOptions = {}): Promise<ClickHouseInstance> {
  const name = options.name ?? 'default';
  const user = options.user ?? 'default';
  const password = options.password ?? '';
  const dir = instanceDir(options);
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'instance.lock'), async () => {
    let state = readJson<InstanceState>(stateFile(dir));
    const previous = state ?? readJson<InstanceState>(join(dir, 'ports.json'));
    const wanted = options.port ?? 0;
    let startMs = 0;
    const reusable =
      state !== null &&
      alive(state.pid) &&
      (wanted === 0 || wanted === state.port) &&
      state.user === user &&
      state.passwordHash === hash(password, state.salt ?? '') &&
      (await clickHouseHealthy(`http://127.0.0.1:${state.port}`));
    if (!reusable) {
      if (state) await stopPid(state.pid);
      const port = wanted || (previous?.port && (await portFree(previous.port)) ? previous.port : await freePort());
      const started = performance.now();
      const logFile = join(dir, 'server.log');
      const pid = spawnDetached(
        process.execPath,
        ['--import', 'tsx', join(repoRoot, 'services', 'launcher', 'clickhouse-http', 'main.ts'), '--port', String(port), '--data', join(dir, 'data')],
        { cwd: repoRoot, logFile, env: { ...process.env, CLICKHOUSE_USER: user, CLICKHOUSE_PASSWORD: password } },
      );
      const salt = randomBytes(16).toString('hex');
      state = { pid, port, user, passwordHash: hash(password, salt), salt };
      writeFileSync(stateFile(dir), JSON.stringify(state));
      writeFileSync(join(dir, 'ports.json'), JSON.stringify({ pid, port }));
      const url = `http://127.0.0.1:${port}`;
      if (!(await waitHealthy(() => clickHouseHealthy(url), pid, options.startTimeoutMs ?? 60_000, 100))) {
        await stopPid(pid);
        throw new Error(`the ClickHouse HTTP stand-in did not become healthy on ${url}; log (${logFile}):\n${tail(logFile)}`);
      }
      startMs = performance.now() - started;
      options.log?.(`ClickHouse HTTP stand-in "${name}" listening on ${url} (started in ${(startMs / 1000).toFixed(1)}s)`);
    }
    const current = state!;
    return {
      name,
      url: `http://127.0.0.1:${current.port}`,
      port: current.port,
      pid: current.pid,
      user: current.user,
      dir,
      timings: { startMs },
      stop: () => stopClickHouse({ name, stateDir: options.stateDir }),
    };
  });
}

export async function stopClickHouse(options: Pick<ClickHouseLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  const dir = instanceDir(options);
  const state = readJson<InstanceState>(stateFile(dir));
  if (state) await stopPid(state.pid);
  rmSync(stateFile(dir), { force: true });
}

/** Stops the instance and deletes its data. */
export async function destroyClickHouse(options: Pick<ClickHouseLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  await stopClickHouse(options);
  rmSync(instanceDir(options), { recursive: true, force: true });
}
