import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { withLock } from './lock.ts';
import { namedInstances } from './instance.ts';
import { freePort, portFree, readJson, run, spawnDetached, stateFile, stillServing, stopPid, tail, waitHealthy } from './process.ts';

/**
 * Runs Apache Kafka as a single KRaft node (broker and controller in one JVM) from its Maven
 * Central jars: Maven resolves `org.apache.kafka:kafka_2.13` and its runtime dependencies once into
 * `.services/kafka/dist/libs`; each named instance formats its own storage and listens on loopback.
 */

/** The Kafka release the launcher runs. */
export const KAFKA_VERSION = '3.9.1';
/** SLF4J binding Kafka 3.9's own distribution ships (log4j 1.x API through reload4j). */
const SLF4J_VERSION = '1.7.36';


export interface KafkaLaunchOptions {
  /** Instance name: each has its own storage, ports and JVM. Default `default`. */
  name?: string;
  /** Broker port; 0 keeps the instance's previous port or picks a free one. Default 0. */
  port?: number;
  /** State directory. Default `$HDM_SERVICES_DIR/kafka` or `<repo>/.services/kafka`. */
  stateDir?: string;
  /** JVM heap ceiling. Default `1g`. */
  heap?: string;
  /** Milliseconds to wait for the broker to answer. Default 90000. */
  startTimeoutMs?: number;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

export interface KafkaInstance {
  name: string;
  /** Bootstrap servers for kafkajs (`brokers`). */
  brokers: string[];
  port: number;
  controllerPort: number;
  pid: number;
  dir: string;
  /** Milliseconds each step took in this call (0 when it was already done). */
  timings: { installMs: number; formatMs: number; startMs: number };
  /** Stops the broker (its data stays). */
  stop(): Promise<void>;
}

interface InstanceState {
  pid: number;
  port: number;
  controllerPort: number;
}

/** A broker that is flushing its logs gets 30 s to stop. */
const instances = namedInstances('kafka', 30_000);

export const kafkaStateDir: (stateDir?: string) => string = instances.stateDir;

function pom(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by the helpdesk-migrator launcher: resolves Kafka's runtime jars from Maven Central. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.helpdeskmigrator.services</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

function distDir(root: string): string {
  return join(root, 'dist');
}

function installed(root: string): boolean {
  const marker = join(distDir(root), 'libs', '.complete');
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === KAFKA_VERSION;
}

/** Resolves Kafka's jars with Maven once (about 45 s on a fresh machine); later calls return 0. */
export async function installKafka(options: Pick<KafkaLaunchOptions, 'stateDir' | 'log'> = {}): Promise<number> {
  const root = kafkaStateDir(options.stateDir);
  if (installed(root)) return 0;
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'install.lock'), async () => {
    if (installed(root)) return 0;
    const started = performance.now();
    const dist = distDir(root);
    rmSync(dist, { recursive: true, force: true });
    mkdirSync(dist, { recursive: true });
    writeFileSync(join(dist, 'pom.xml'), pom());
    const logFile = join(root, 'install.log');
    options.log?.(`resolving org.apache.kafka:kafka_2.13:${KAFKA_VERSION} and its runtime dependencies with Maven (log: ${logFile})`);
    try {
      run('mvn', ['-B', '-q', 'dependency:copy-dependencies', '-DoutputDirectory=libs', '-DincludeScope=runtime'], { cwd: dist, logFile, timeoutMs: 15 * 60_000 });
    } catch (err) {
      throw new Error(`could not resolve Kafka ${KAFKA_VERSION} from Maven Central (Java 17+ and Maven must be installed): ${(err as Error).message}`);
    }
    writeFileSync(join(dist, 'libs', '.complete'), `${KAFKA_VERSION}\n`);
    const ms = performance.now() - started;
    options.log?.(`Kafka jars ready in ${(ms / 1000).toFixed(1)}s`);
    return ms;
  });
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return `# Written by the helpdesk-migrator launcher; regenerated at every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${join(dir, 'data')}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
# A single node: a handful of offsets partitions is plenty and makes the first group join quick.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
`;
}

const LOG4J = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
`;

function classpath(root: string): string {
  return `${join(distDir(root), 'libs')}/*`;
}

/** Formats the instance's KRaft storage once (a cluster ID of its own). */
function formatStorage(root: string, dir: string, logFile: string): number {
  if (existsSync(join(dir, 'data', 'meta.properties'))) return 0;
  const started = performance.now();
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  const java = ['-Dlog4j.configuration=file:' + join(dir, 'log4j.properties'), '-cp', classpath(root), 'kafka.tools.StorageTool'];
  const clusterId = run('java', [...java, 'random-uuid'], { logFile }).trim().split('\n').pop()!.trim();
  run('java', [...java, 'format', '-t', clusterId, '-c', join(dir, 'server.properties')], { logFile });
  return performance.now() - started;
}

/** True when a broker answers a metadata request on `port`. */
export async function kafkaHealthy(port: number, timeoutMs = 5000): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'hdm-launcher-health',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    const cluster = await admin.describeCluster();
    return cluster.controller !== null && cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function startBroker(root: string, dir: string, port: number, controllerPort: number, heap: string, timeoutMs: number): Promise<{ state: InstanceState; formatMs: number }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server.properties'), serverProperties(dir, port, controllerPort));
  writeFileSync(join(dir, 'log4j.properties'), LOG4J);
  const logFile = join(dir, 'server.log');
  const formatMs = formatStorage(root, dir, join(dir, 'format.log'));
  const pid = spawnDetached(
    'java',
    [
      `-Xmx${heap}`,
      '-Xms256m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
      `-Dkafka.logs.dir=${dir}`,
      '-cp',
      classpath(root),
      'kafka.Kafka',
      join(dir, 'server.properties'),
    ],
    { cwd: dir, logFile },
  );
  const state = { pid, port, controllerPort };
  writeFileSync(stateFile(dir), JSON.stringify(state));
  writeFileSync(join(dir, 'ports.json'), JSON.stringify(state));
  if (await waitHealthy(() => kafkaHealthy(port, 2000), pid, timeoutMs)) return { state, formatMs };
  await stopPid(pid);
  throw new Error(`Kafka did not become healthy on 127.0.0.1:${port} within ${timeoutMs} ms; server log (${logFile}):\n${tail(logFile)}`);
}

/**
 * Makes sure Kafka's jars are resolved and the named single-node KRaft instance runs and answers;
 * reuses a healthy running instance. Safe to call from several processes at once.
 */
export async function ensureKafka(options: KafkaLaunchOptions = {}): Promise<KafkaInstance> {
  const name = options.name ?? 'default';
  const root = kafkaStateDir(options.stateDir);
  const dir = instances.dirOf(options);
  const installMs = await installKafka(options);
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'instance.lock'), async () => {
    let state = readJson<InstanceState>(stateFile(dir));
    // A stopped instance comes back on its previous ports when they are free, so clients keep their address.
    const previous = state ?? readJson<InstanceState>(join(dir, 'ports.json'));
    const wanted = options.port ?? 0;
    let startMs = 0;
    let formatMs = 0;
    const reusable = state !== null && (wanted === 0 || wanted === state.port) && (await stillServing(state.pid, () => kafkaHealthy(state!.port)));
    if (!reusable) {
      if (state) await stopPid(state.pid);
      const port = wanted || (previous?.port && (await portFree(previous.port)) ? previous.port : await freePort());
      let controllerPort =
        previous?.controllerPort && previous.controllerPort !== port && (await portFree(previous.controllerPort)) ? previous.controllerPort : await freePort();
      while (controllerPort === port) controllerPort = await freePort();
      const started = performance.now();
      const result = await startBroker(root, dir, port, controllerPort, options.heap ?? '1g', options.startTimeoutMs ?? 90_000);
      state = result.state;
      formatMs = result.formatMs;
      startMs = performance.now() - started - formatMs;
      options.log?.(`Kafka instance "${name}" listening on 127.0.0.1:${port} (started in ${(startMs / 1000).toFixed(1)}s)`);
    }
    const current = state!;
    return {
      name,
      brokers: [`127.0.0.1:${current.port}`],
      port: current.port,
      controllerPort: current.controllerPort,
      pid: current.pid,
      dir,
      timings: { installMs, formatMs, startMs },
      stop: () => stopKafka({ name, stateDir: options.stateDir }),
    };
  });
}

/** Stops the named instance's broker, if running (its data stays). */
export const stopKafka: (options?: Pick<KafkaLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.stop;

/** Stops the instance and deletes its data, so the next start formats fresh storage. */
export const destroyKafka: (options?: Pick<KafkaLaunchOptions, 'name' | 'stateDir'>) => Promise<void> = instances.destroy;
