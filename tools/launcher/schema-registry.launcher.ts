import { join } from 'node:path';
import { destroyInstance, ensureInstance, instanceDirIn, repoRoot, serviceStateDir, stopInstance } from './instance.ts';
import { spawnDetached } from './process.ts';

/**
 * Runs a Confluent-compatible schema registry (schema-registry/registry.server.ts) as a named
 * instance on a loopback port, its schemas kept in `.services/schema-registry/instances/<name>`.
 */


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
  return serviceStateDir('schema-registry', stateDir);
}

function instanceDir(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'>): string {
  return instanceDirIn(schemaRegistryStateDir(options.stateDir), options.name);
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
  const urlOf = (port: number) => `http://127.0.0.1:${port}`;
  const { state, startMs } = await ensureInstance<InstanceState>({
    dir,
    port: options.port,
    what: 'the schema registry',
    label: `schema registry "${name}"`,
    urlOf,
    healthy: (s) => schemaRegistryHealthy(urlOf(s.port)),
    spawn: (port, logFile) => ({
      pid: spawnDetached(
        process.execPath,
        ['--import', 'tsx', join(repoRoot, 'tools', 'launcher', 'schema-registry', 'main.ts'), '--port', String(port), '--data', join(dir, 'schemas.json')],
        { cwd: repoRoot, logFile },
      ),
      port,
    }),
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    log: options.log,
  });
  return {
    name,
    url: urlOf(state.port),
    port: state.port,
    pid: state.pid,
    dir,
    timings: { startMs },
    stop: () => stopSchemaRegistry({ name, stateDir: options.stateDir }),
  };
}

export function stopSchemaRegistry(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  return stopInstance(instanceDir(options));
}

/** Stops the instance and deletes its schemas. */
export function destroySchemaRegistry(options: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  return destroyInstance(instanceDir(options));
}
