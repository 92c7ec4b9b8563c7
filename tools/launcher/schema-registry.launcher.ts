import { join } from 'node:path';
import { namedInstances, spawnScriptServer } from './instance.ts';

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

const instances = namedInstances('schema-registry');

export const schemaRegistryStateDir: (stateDir?: string) => string = instances.stateDir;

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
  const dir = instances.dirOf(options);
  const urlOf = (port: number) => `http://127.0.0.1:${port}`;
  const { instance, startMs } = await instances.ensure<InstanceState>(options, {
    port: options.port,
    what: 'the schema registry',
    label: `schema registry "${name}"`,
    urlOf,
    healthy: (s) => schemaRegistryHealthy(urlOf(s.port)),
    spawn: (port, logFile) => ({
      pid: spawnScriptServer('schema-registry', ['--port', String(port), '--data', join(dir, 'schemas.json')], { logFile }),
      port,
    }),
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    log: options.log,
  });
  return { ...instance, timings: { startMs } };
}

export const stopSchemaRegistry: (options?: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.stop;

/** Stops the instance and deletes its schemas. */
export const destroySchemaRegistry: (options?: Pick<SchemaRegistryLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.destroy;
