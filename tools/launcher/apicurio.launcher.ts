import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { withLock } from './lock.ts';
import { namedInstances, repoRoot } from './instance.ts';
import { run, spawnDetached } from './process.ts';
import { schemaRegistryHealthy } from './schema-registry.launcher.ts';

/**
 * Runs Apicurio Registry 2.4.2.Final, a third-party Confluent-compatible schema registry, as a named
 * instance on a loopback port. Maven builds it once from Maven Central (apicurio/pom.xml repackages
 * the published app jar into a Quarkus fast-jar) into `.services/apicurio/dist`, outside the source
 * tree; each instance keeps its schemas in an H2 database file of its own.
 */

const projectDir = join(repoRoot, 'tools', 'launcher', 'apicurio');
/** Path of the Confluent-compatible API under the server's root. */
export const APICURIO_CCOMPAT_PATH = '/apis/ccompat/v7';

export interface ApicurioLaunchOptions {
  /** Instance name: each has its own database, port and JVM. Default `default`. */
  name?: string;
  /** Port; 0 keeps the instance's previous port or picks a free one. Default 0. */
  port?: number;
  /** State directory. Default `$HDM_SERVICES_DIR/apicurio` or `<repo>/.services/apicurio`. */
  stateDir?: string;
  /** JVM heap ceiling. Default `384m`. */
  heap?: string;
  /** Milliseconds to wait for the registry to answer. Default 120000. */
  startTimeoutMs?: number;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface ApicurioInstance {
  name: string;
  /** Base URL of the Confluent-compatible API, for the registry client. */
  url: string;
  port: number;
  pid: number;
  dir: string;
  /** Milliseconds each step took in this call (0 when it was already done). */
  timings: { buildMs: number; startMs: number };
  /** Stops the registry (its schemas stay). */
  stop(): Promise<void>;
}

interface InstanceState {
  pid: number;
  port: number;
}

/** A JVM that is writing its database gets 30 s to stop. */
const instances = namedInstances('apicurio', 30_000);

export const apicurioStateDir: (stateDir?: string) => string = instances.stateDir;

function appDir(root: string): string {
  return join(root, 'dist', 'quarkus-app');
}

/** Changes to the POM or the Maven flags rebuild the app. */
function buildInputs(): { files: [string, string][]; digest: string } {
  const files: [string, string][] = [
    ['pom.xml', join(projectDir, 'pom.xml')],
    [join('.mvn', 'maven.config'), join(projectDir, '.mvn', 'maven.config')],
  ];
  const hash = createHash('sha256');
  for (const [, file] of files) hash.update(readFileSync(file));
  return { files, digest: hash.digest('hex') };
}

function built(root: string, digest: string): boolean {
  const marker = join(appDir(root), '.complete');
  return existsSync(join(appDir(root), 'quarkus-run.jar')) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === digest;
}

/** Builds the registry with Maven once (about 20 s with a filled local repository); later calls return 0. */
export async function buildApicurio(options: Pick<ApicurioLaunchOptions, 'stateDir' | 'log'> = {}): Promise<number> {
  const root = apicurioStateDir(options.stateDir);
  const { files, digest } = buildInputs();
  if (built(root, digest)) return 0;
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), async () => {
    if (built(root, digest)) return 0;
    const started = performance.now();
    // The POM and its Maven flags are copied out so `target/` lands in the state directory, not in the source tree.
    const work = join(root, 'build');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, '.mvn'), { recursive: true });
    for (const [relative, source] of files) copyFileSync(source, join(work, relative));
    const logFile = join(root, 'build.log');
    options.log?.(`building Apicurio Registry from Maven Central with Maven (log: ${logFile})`);
    try {
      run('mvn', ['-B', 'package'], { cwd: work, logFile, timeoutMs: 20 * 60_000 });
    } catch (err) {
      throw new Error(`could not build Apicurio Registry from Maven Central (Java 17+ and Maven must be installed): ${(err as Error).message}`);
    }
    rmSync(appDir(root), { recursive: true, force: true });
    mkdirSync(dirname(appDir(root)), { recursive: true });
    renameSync(join(work, 'target', 'quarkus-app'), appDir(root));
    rmSync(work, { recursive: true, force: true });
    writeFileSync(join(appDir(root), '.complete'), `${digest}\n`);
    const ms = performance.now() - started;
    options.log?.(`Apicurio Registry built in ${(ms / 1000).toFixed(1)}s`);
    return ms;
  });
}

/** True when the Confluent-compatible API answers `GET /subjects` with a JSON list (the same check as the project's registry). */
export const apicurioHealthy = schemaRegistryHealthy;

/** Apicurio's default global rule is NONE; Confluent's registry defaults to BACKWARD, which the bus relies on. */
async function setBackwardCompatibility(url: string): Promise<void> {
  const res = await fetch(`${url}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`Apicurio Registry refused the global compatibility BACKWARD: HTTP ${res.status} ${await res.text()}`);
}

function javaArgs(root: string, dir: string, port: number, heap: string): string[] {
  return [
    `-Xmx${heap}`,
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${port}`,
    // H2 in a file instead of the app's in-memory default, so schemas and their IDs survive a restart.
    `-Dquarkus.datasource.jdbc.url=jdbc:h2:file:${join(dir, 'data', 'registry')}`,
    // The app asks for a pool of 20 to 100 connections; one local client needs few.
    '-Dquarkus.datasource.jdbc.min-size=2',
    '-Dquarkus.datasource.jdbc.initial-size=2',
    '-Dquarkus.datasource.jdbc.max-size=20',
    '-jar',
    join(appDir(root), 'quarkus-run.jar'),
  ];
}

/**
 * Makes sure the registry is built and the named instance runs and answers, with global
 * compatibility BACKWARD; reuses a healthy running instance. Safe to call from several processes at once.
 */
export async function ensureApicurio(options: ApicurioLaunchOptions = {}): Promise<ApicurioInstance> {
  const name = options.name ?? 'default';
  const root = apicurioStateDir(options.stateDir);
  const dir = instances.dirOf(options);
  const buildMs = await buildApicurio(options);
  const urlOf = (port: number) => `http://127.0.0.1:${port}${APICURIO_CCOMPAT_PATH}`;
  const { instance, startMs } = await instances.ensure<InstanceState>(options, {
    port: options.port,
    what: 'Apicurio Registry',
    label: `Apicurio Registry "${name}"`,
    urlOf,
    healthy: (s) => apicurioHealthy(urlOf(s.port)),
    spawn: (port, logFile) => {
      mkdirSync(join(dir, 'data'), { recursive: true });
      return { pid: spawnDetached('java', javaArgs(root, dir, port, options.heap ?? '384m'), { cwd: dir, logFile }), port };
    },
    afterStart: (s) => setBackwardCompatibility(urlOf(s.port)),
    startTimeoutMs: options.startTimeoutMs ?? 120_000,
    pollMs: 200,
    log: options.log,
  });
  return { ...instance, timings: { buildMs, startMs } };
}

/** Stops the named instance, if running (its database stays). */
export const stopApicurio: (options?: Pick<ApicurioLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.stop;

/** Stops the instance and deletes its database, so the next start is empty. */
export const destroyApicurio: (options?: Pick<ApicurioLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.destroy;
