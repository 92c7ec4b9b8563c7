import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withLock } from './lock.ts';
import { freePort, portFree, readJson, spawnDetached, stateFile, stillServing, stopPid, tail, waitHealthy } from './process.ts';

/**
 * The life of a named server instance under `<root>/instances/<name>`, shared by the launchers: a
 * `state.json` with its pid and port while it runs, a `ports.json` that outlives it so a restarted
 * instance comes back on its previous port when that is free, and a lock so that several processes
 * may ensure the same instance at once.
 */

/** The package's root: a checkout, or the installed package (under `node_modules/`, or `/app` in the image). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where the launchers keep their state unless told: `<checkout>/.services` in a git checkout, else
 * `.hdm/services` of the working directory. An installed package's folder is the package manager's
 * (the next install replaces it) and the image's is read-only to its user, so state kept there would
 * be lost or could not be written.
 */
export function defaultServicesDir(packageRoot: string, cwd: string): string {
  return existsSync(join(packageRoot, '.git')) ? join(packageRoot, '.services') : resolve(cwd, '.hdm', 'services');
}

/** A service's state directory: `stateDir`, else `$HDM_SERVICES_DIR/<service>`, else `defaultServicesDir()/<service>`. */
export function serviceStateDir(service: string, stateDir?: string): string {
  return resolve(stateDir ?? join(process.env.HDM_SERVICES_DIR ?? defaultServicesDir(repoRoot, process.cwd()), service));
}

export interface RunningState {
  pid: number;
  port: number;
}

/** `<root>/instances/<name>`, the name checked. */
export function instanceDirIn(root: string, name = 'default'): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`instance name "${name}": use letters, digits, dot, dash, underscore`);
  return join(root, 'instances', name);
}

export interface EnsureInstanceOptions<S extends RunningState> {
  dir: string;
  /** A fixed port; 0 or absent keeps the previous port when free, else picks a free one. */
  port?: number;
  /** What the server is, for messages: `the schema registry`. */
  what: string;
  /** The address it serves, for messages. */
  urlOf(port: number): string;
  healthy(state: S): Promise<boolean>;
  /** Whether a running instance's recorded state still fits the request (e.g. its credentials). Default yes. */
  fits?(state: S): boolean;
  /** Starts the server detached on `port`, writing its output to `logFile`; returns the state to record. */
  spawn(port: number, logFile: string): S;
  /** Setup once it answers (e.g. a registry's default compatibility); a failure stops the server. */
  afterStart?(state: S): Promise<void>;
  startTimeoutMs: number;
  pollMs?: number;
  log?: (line: string) => void;
  /** How long a running instance may take to answer before it is restarted. Default 30 s (REUSE_PATIENCE_MS). */
  reusePatienceMs?: number;
  /** How the running instance is named in the start line: `schema registry "default"`. */
  label: string;
}

/** Makes sure the instance runs and answers; reuses a healthy one that fits. */
export async function ensureInstance<S extends RunningState>(options: EnsureInstanceOptions<S>): Promise<{ state: S; startMs: number }> {
  const { dir } = options;
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'instance.lock'), async () => {
    const state = readJson<S>(stateFile(dir));
    const previous = state ?? readJson<RunningState>(join(dir, 'ports.json'));
    const wanted = options.port ?? 0;
    const reusable =
      state !== null &&
      (wanted === 0 || wanted === state.port) &&
      (options.fits?.(state) ?? true) &&
      (await stillServing(state.pid, () => options.healthy(state), options.reusePatienceMs));
    if (reusable) return { state, startMs: 0 };
    if (state) await stopPid(state.pid);
    const port = wanted || (previous?.port && (await portFree(previous.port)) ? previous.port : await freePort());
    const logFile = join(dir, 'server.log');
    const started = performance.now();
    const next = options.spawn(port, logFile);
    writeFileSync(stateFile(dir), JSON.stringify(next));
    writeFileSync(join(dir, 'ports.json'), JSON.stringify({ pid: next.pid, port: next.port }));
    const url = options.urlOf(port);
    if (!(await waitHealthy(() => options.healthy(next), next.pid, options.startTimeoutMs, options.pollMs ?? 100))) {
      await stopPid(next.pid);
      throw new Error(`${options.what} did not become healthy on ${url}; log (${logFile}):\n${tail(logFile)}`);
    }
    try {
      await options.afterStart?.(next);
    } catch (err) {
      await stopPid(next.pid);
      throw err;
    }
    const startMs = performance.now() - started;
    options.log?.(`${options.label} listening on ${url} (started in ${(startMs / 1000).toFixed(1)}s)`);
    return { state: next, startMs };
  });
}

/** Stops the instance's server, if running (its data stays). */
export async function stopInstance(dir: string, graceMs?: number): Promise<void> {
  const state = readJson<RunningState>(stateFile(dir));
  if (state) await stopPid(state.pid, graceMs);
  rmSync(stateFile(dir), { force: true });
}

/** Stops the instance and deletes its data, so the next start is empty. */
export async function destroyInstance(dir: string, graceMs?: number): Promise<void> {
  await stopInstance(dir, graceMs);
  rmSync(dir, { recursive: true, force: true });
}

/** Where a launcher finds one named instance: its name and the service's state directory. */
export interface InstanceRef {
  /** Instance name. Default `default`. */
  name?: string;
  /** State directory. Default `$HDM_SERVICES_DIR/<service>` or `<repo>/.services/<service>`. */
  stateDir?: string;
}

/** The state and instance directories of one service's named instances, and how to stop or destroy one. */
export function namedInstances(service: string, graceMs?: number) {
  const stateDir = (dir?: string) => serviceStateDir(service, dir);
  const dirOf = (ref: InstanceRef = {}) => instanceDirIn(stateDir(ref.stateDir), ref.name);
  const stop = (ref: InstanceRef = {}) => stopInstance(dirOf(ref), graceMs);
  return {
    stateDir,
    dirOf,
    stop,
    destroy: (ref: InstanceRef = {}) => destroyInstance(dirOf(ref), graceMs),
    /** `ensureInstance` for the named instance; returns what every launcher's instance shows, and the recorded state. */
    async ensure<S extends RunningState>(ref: InstanceRef, spec: Omit<EnsureInstanceOptions<S>, 'dir'>) {
      const name = ref.name ?? 'default';
      const dir = dirOf(ref);
      const { state, startMs } = await ensureInstance<S>({ ...spec, dir });
      const instance = { name, url: spec.urlOf(state.port), port: state.port, pid: state.pid, dir, stop: () => stop({ name, stateDir: ref.stateDir }) };
      return { instance, state, startMs };
    },
  };
}

/** Starts one of the launcher's own TypeScript servers (`tools/launcher/<server>/main.ts`) detached. */
export function spawnScriptServer(server: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv }): number {
  return spawnDetached(process.execPath, ['--import', 'tsx', join(repoRoot, 'tools', 'launcher', server, 'main.ts'), ...args], { cwd: repoRoot, ...options });
}
