#!/usr/bin/env -S npx tsx
/**
 * `tsx tools/launcher/cli.ts up|down|reset|destroy|status [rt] [kafka] [schema-registry] [apicurio] [clickhouse] [chromium] [--name <instance>] [--port <n>]`
 * Starts the real services the tests and demos use: Request Tracker 5, and for cluster mode Kafka
 * (KRaft), a schema registry and the ledger's ClickHouse HTTP interface (a stand-in on the
 * ClickHouse engine: no server installs here; its user and password come from CLICKHOUSE_USER and
 * CLICKHOUSE_PASSWORD); installs the browser the dashboard's tests drive (Debian's Chromium).
 * Without service names, the command acts on all of them but `apicurio` (Apicurio Registry, a
 * third-party Confluent-compatible registry built from Maven Central), which runs only when named.
 */
import { apicurioStateDir, destroyApicurio, ensureApicurio, stopApicurio } from './apicurio.launcher.ts';
import { ensureChromium } from './chromium.launcher.ts';
import { clickHouseStateDir, destroyClickHouse, ensureClickHouse, stopClickHouse } from './clickhouse.launcher.ts';
import { destroyKafka, ensureKafka, kafkaStateDir, stopKafka } from './kafka.launcher.ts';
import { destroyRt, ensureRt, rtStateDir, stopRt } from './rt.launcher.ts';
import { destroySchemaRegistry, ensureSchemaRegistry, schemaRegistryStateDir, stopSchemaRegistry } from './schema-registry.launcher.ts';

/** What a command without service names acts on. */
const SERVICES = ['rt', 'kafka', 'schema-registry', 'clickhouse', 'chromium'];
/** Services started only when named: heavier alternatives to a default one. */
const OPTIONAL = ['apicurio'];

function parse(argv: string[]): { command: string; services: string[]; name?: string; port?: number } {
  const [command = 'status', ...rest] = argv;
  const services: string[] = [];
  let name: string | undefined;
  let port: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--name') name = rest[++i];
    else if (rest[i] === '--port') port = Number(rest[++i]);
    else services.push(rest[i]);
  }
  const known = [...SERVICES, ...OPTIONAL];
  for (const s of services) if (!known.includes(s)) throw new Error(`unknown service "${s}"; expected one of ${known.join(', ')}`);
  if (port && services.length !== 1) throw new Error('--port applies to one service: name it (e.g. `up kafka --port 9092`)');
  return { command, services: services.length ? services : SERVICES, name, port };
}

type Log = (line: string) => void;

/** Kafka, the schema registries and the ledger's ClickHouse: how each starts (printing its address), stops, is removed, and where it keeps its state. */
const CLUSTER: Record<
  string,
  {
    label: string;
    up(name: string | undefined, port: number | undefined, log: Log, started: number): Promise<void>;
    stop(ref: { name?: string }): Promise<void>;
    destroy(ref: { name?: string }): Promise<void>;
    stateDir(): string;
  }
> = {
  clickhouse: {
    label: 'clickhouse',
    async up(name, port, log, started) {
      const user = process.env.CLICKHOUSE_USER || 'default';
      const clickhouse = await ensureClickHouse({ name, port, user, password: process.env.CLICKHOUSE_PASSWORD ?? '', log });
      log(`ClickHouse HTTP interface stand-in on the ClickHouse engine, user "${user}", ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
      process.stdout.write(`CLICKHOUSE_URL=${clickhouse.url}\n`);
    },
    stop: stopClickHouse,
    destroy: destroyClickHouse,
    stateDir: () => clickHouseStateDir(),
  },
  kafka: {
    label: 'kafka',
    async up(name, port, log, started) {
      const kafka = await ensureKafka({ name, port, log });
      const t = kafka.timings;
      log(`install ${(t.installMs / 1000).toFixed(1)}s · format ${(t.formatMs / 1000).toFixed(1)}s · start ${(t.startMs / 1000).toFixed(1)}s · total ${((performance.now() - started) / 1000).toFixed(1)}s`);
      process.stdout.write(`KAFKA_BROKERS=${kafka.brokers.join(',')}\n`);
    },
    stop: stopKafka,
    destroy: destroyKafka,
    stateDir: () => kafkaStateDir(),
  },
  apicurio: {
    label: 'apicurio',
    async up(name, port, log, started) {
      const registry = await ensureApicurio({ name, port, log });
      const t = registry.timings;
      log(`build ${(t.buildMs / 1000).toFixed(1)}s · start ${(t.startMs / 1000).toFixed(1)}s · total ${((performance.now() - started) / 1000).toFixed(1)}s`);
      process.stdout.write(`SCHEMA_REGISTRY_URL=${registry.url}\n`);
    },
    stop: stopApicurio,
    destroy: destroyApicurio,
    stateDir: () => apicurioStateDir(),
  },
  'schema-registry': {
    label: 'schema registry',
    async up(name, port, log, started) {
      const registry = await ensureSchemaRegistry({ name, port, log });
      log(`ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
      process.stdout.write(`SCHEMA_REGISTRY_URL=${registry.url}\n`);
    },
    stop: stopSchemaRegistry,
    destroy: destroySchemaRegistry,
    stateDir: () => schemaRegistryStateDir(),
  },
};

async function cluster(service: string, command: string, name: string | undefined, port: number | undefined): Promise<void> {
  const log = (line: string) => process.stderr.write(`[${service}] ${line}\n`);
  const started = performance.now();
  const s = CLUSTER[service];
  if (command === 'reset') {
    // Kafka, the registry and ClickHouse reset to empty: the instance's data is removed, then it starts again.
    await s.destroy({ name });
    command = 'up';
  }
  if (command === 'up') await s.up(name, port, log, started);
  else if (command === 'down') {
    await s.stop({ name });
    log(`stopped instance "${name ?? 'default'}"`);
  } else if (command === 'destroy') {
    await s.destroy({ name });
    log(`removed instance "${name ?? 'default'}"`);
  } else process.stdout.write(`${s.label} state directory: ${s.stateDir()}\n`);
}

async function main(): Promise<void> {
  const { command, services, name, port } = parse(process.argv.slice(2));
  if (!['up', 'down', 'reset', 'destroy', 'status'].includes(command)) {
    throw new Error(`unknown command "${command}"; expected up, down, reset, destroy or status`);
  }
  // Kafka first: it takes longest, and the registry and ClickHouse are quick either way.
  for (const service of ['kafka', 'schema-registry', 'apicurio', 'clickhouse']) if (services.includes(service)) await cluster(service, command, name, port);
  if (!services.includes('rt')) return;
  const log = (line: string) => process.stderr.write(`[rt] ${line}\n`);
  if (command === 'up' && services.includes('chromium')) {
    const chromium = await ensureChromium({ log: (line) => process.stderr.write(`[chromium] ${line}\n`) });
    process.stdout.write(`CHROMIUM=${chromium.path}\n`);
    if (!services.includes('rt')) return;
  }
  switch (command) {
    case 'up': {
      const rt = await ensureRt({ name, port, log });
      const t = rt.timings;
      log(`install ${(t.installMs / 1000).toFixed(1)}s · init ${(t.initMs / 1000).toFixed(1)}s · start ${(t.startMs / 1000).toFixed(1)}s`);
      process.stdout.write(`RT_URL=${rt.url}\nRT_TOKEN=${rt.token}\n`);
      return;
    }
    case 'reset': {
      const rt = await ensureRt({ name, port, log });
      await rt.reset();
      process.stdout.write(`RT_URL=${rt.url}\nRT_TOKEN=${rt.token}\n`);
      return;
    }
    case 'down':
      await stopRt({ name });
      log(`stopped instance "${name ?? 'default'}"`);
      return;
    case 'destroy':
      await destroyRt({ name });
      log(`removed instance "${name ?? 'default'}"`);
      return;
    case 'status':
      process.stdout.write(`state directory: ${rtStateDir()}\n`);
      return;
    default:
      throw new Error(`unknown command "${command}"; expected up, down, reset, destroy or status`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
