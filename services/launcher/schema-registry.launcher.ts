import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withLock } from './lock.ts';
import { alive, freePort, portFree, readJson, spawnDetached, stateFile, stopPid, tail, waitHealthy } from './process.ts';

/**
 * Runs a Confluent-compatible schema registry (schema-registry/registry.server.ts) as a named
 * instance on a loopback port, its schemas kept in `.services/schema-registry/instances/<name>`.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SchemaRegistryLaunchOptions {
  /** Instance name. Default `default`. */
  name?: string;
  /** Port; 0 keeps the instance's previous port or picks a free one. Default 0. */
  port?: number;
  /** State directory. Default `$HDM_SERVICES_DIR/schema-registry` or `<repo>/.services/schema-registry`. */
  stateDir?: string;
  /** Milliseconds to wait for the registry to answer. Default 30000. */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface SchemaRegistryInstance {
  name: string;
  /** Base URL for the registry client. */
  url: string;
  port: number;
  pid: number;
  dir: string;
  timings: { startMs: number };
  stop(): Promise<void>;
}

interface InstanceState {
  pid: number;
  port: number;
}

export function schemaRegistryStateDir(stateDir?: string): string {
  return resolve(stateDir ?? (process.env.HDM_SERVICES_DIR ? join(process.env.HDM_SERVICES_DIR, 'schema-registry') : join(repoRoot, '.services', 'schema-registry')));
}

function instanceDir(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'>): string {
  const name = options.name ?? 'default';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`instance name "${name}": use letters, digits, dot, dash, underscore`);
  return join(schemaRegistryStateDir(options.stateDir), 'instances', name);
}

/** True when the registry answers `GET /subjects` with a JSON list. */
export async function schemaRegistryHealthy(url: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.json();
    return res.status === 200 && Array.isArray(body);
  } catch {
    return false;
  }
}

/** Makes sure the named registry instance runs and answers; reuses a healthy one. Safe across processes. */
export async function ensureSchemaRegistry(options: SchemaRegistryLaunchOptions = {}): Promise<SchemaRegistryInstance> {
  const name = options.name ?? 'default';
  const dir = instanceDir(options);
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'instance.lock'), async () => {
    let state = readJson<InstanceState>(stateFile(dir));
    const previous = state ?? readJson<InstanceState>(join(dir, 'ports.json'));
    const wanted = options.port ?? 0;
    let startMs = 0;
    const reusable = state !== null && alive(state.pid) && (wanted === 0 || wanted === state.port) && (await schemaRegistryHealthy(`http://127.0.0.1:${state.port}`));
    if (!reusable) {
      if (state) await stopPid(state.pid);
      const port = wanted || (previous?.port && (await portFree(previous.port)) ? previous.port : await freePort());
      const started = performance.now();
      const logFile = join(dir, 'server.log');
      const pid = spawnDetached(
        process.execPath,
        ['--import', 'tsx', join(repoRoot, 'services', 'launcher', 'schema-registry', 'main.ts'), '--port', String(port), '--data', join(dir, 'schemas.json')],
        { cwd: repoRoot, logFile },
      );
      state = { pid, port };
      writeFileSync(stateFile(dir), JSON.stringify(state));
      writeFileSync(join(dir, 'ports.json'), JSON.stringify(state));
      const url = `http://127.0.0.1:${port}`;
      if (!(await waitHealthy(() => schemaRegistryHealthy(url), pid, options.startTimeoutMs ?? 30_000, 100))) {
        await stopPid(pid);
        throw new Error(`the schema registry did not become healthy on ${url}; log (${logFile}):\n${tail(logFile)}`);
      }
      startMs = performance.now() - started;
      options.log?.(`schema registry "${name}" listening on ${url} (started in ${(startMs / 1000).toFixed(1)}s)`);
    }
    const current = state!;
    return {
      name,
      url: `http://127.0.0.1:${current.port}`,
      port: current.port,
      pid: current.pid,
      dir,
      timings: { startMs },
      stop: () => stopSchemaRegistry({ name, stateDir: options.stateDir }),
    };
  });
}

export async function stopSchemaRegistry(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  const dir = instanceDir(options);
  const state = readJson<InstanceState>(stateFile(dir));
  if (state) await stopPid(state.pid);
  rmSync(stateFile(dir), { force: true });
}

/** Stops the instance and deletes its schemas. */
export async function destroySchemaRegistry(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  await stopSchemaRegistry(options);
  rmSync(instanceDir(options), { recursive: true, force: true });
}
