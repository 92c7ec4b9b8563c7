import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { namedInstances, spawnScriptServer } from './instance.ts';

/**
 * Runs the stand-in of ClickHouse's HTTP interface (clickhouse-http/server.ts, the ClickHouse
 * engine behind a server's HTTP protocol) as a named instance on a loopback port, its data in
 * `.services/clickhouse/instances/<name>`. No ClickHouse server installs here (Debian ships one
 * from 2018, there is no Docker engine and no release download); users point
 * `ledger.clickhouseUrl` at their own server.
 */


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

const instances = namedInstances('clickhouse');

export const clickHouseStateDir: (stateDir?: string) => string = instances.stateDir;

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
  const dir = instances.dirOf(options);
  const urlOf = (port: number) => `http://127.0.0.1:${port}`;
  const { instance, state, startMs } = await instances.ensure<InstanceState>(options, {
    port: options.port,
    what: 'the ClickHouse HTTP stand-in',
    label: `ClickHouse HTTP stand-in "${name}"`,
    urlOf,
    healthy: (s) => clickHouseHealthy(urlOf(s.port)),
    // A running instance with other credentials is restarted with these.
    fits: (s) => s.user === user && s.passwordHash === hash(password, s.salt ?? ''),
    spawn: (port, logFile) => {
      const pid = spawnScriptServer('clickhouse-http', ['--port', String(port), '--data', join(dir, 'data')], {
        logFile,
        env: { ...process.env, CLICKHOUSE_USER: user, CLICKHOUSE_PASSWORD: password },
      });
      const salt = randomBytes(16).toString('hex');
      return { pid, port, user, passwordHash: hash(password, salt), salt };
    },
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    log: options.log,
  });
  return { ...instance, user: state.user, timings: { startMs } };
}

export const stopClickHouse: (options?: Pick<ClickHouseLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.stop;

/** Stops the instance and deletes its data. */
export const destroyClickHouse: (options?: Pick<ClickHouseLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.destroy;
