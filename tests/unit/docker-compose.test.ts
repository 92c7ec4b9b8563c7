import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { clusterSettings } from '../../services/cluster/cluster.ts';
import { buildProgram } from '../../services/cli/main.ts';
import { ledgerCredentials } from '../../services/runtime/runtime.ts';

/**
 * docker-compose.yml cannot be run here (no Docker engine), so what it asks of the project is checked
 * against the project itself: every service command is one the CLI accepts, the cluster services
 * find Kafka and the registry through the environment the file gives them, and they start only
 * after what they need is healthy; nothing is published beyond loopback, the ledger server has a
 * password every hdm service logs in with, and the hdm image does not run as root.
 */

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[];
  user?: string;
  network_mode?: string;
  volumes?: string[];
}

const composeText = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const projectServices = Object.entries(services).filter(([, s]) => s.build === '.');
const clusterServices = Object.entries(services).filter(([, s]) => s.build === '.' && s.profiles?.includes('cluster'));

/**
 * Compose's variable substitution, as `docker compose` applies it to the file: `${VAR}`,
 * `${VAR:-default}` / `${VAR-default}`, and `${VAR:?message}` / `${VAR?message}`, which refuse the file.
 */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (_all, name: string, colon: string, op: string | undefined, arg: string) => {
    const set = colon ? Boolean(env[name]) : env[name] !== undefined;
    if (set) return env[name];
    if (op === '?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return op === '-' ? arg : '';
  });
}
const environmentOf = (service: ComposeService, env: Record<string, string>) =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), env)]));

/** The host address a published port is bound to; undefined means every interface. */
function hostAddressOf(port: NonNullable<ComposeService['ports']>[number]): string | undefined {
  if (typeof port === 'object') return port.host_ip;
  const parts = port.replace(/\/(tcp|udp)$/, '').split(':');
  return parts.length === 3 ? parts[0] : undefined;
}

/** Parses argv through the real CLI with every action replaced by a recorder; a rejected argv throws. */
async function parsedBy(argv: string[]): Promise<{ path: string[]; args: unknown[] }> {
  const program = buildProgram();
  let seen: { path: string[]; args: unknown[] } | null = null;
  const prepare = (cmd: Command, path: string[]) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
    for (const sub of cmd.commands) {
      const subPath = [...path, sub.name()];
      if (sub.commands.length === 0) sub.action((...args: unknown[]) => void (seen = { path: subPath, args }));
      prepare(sub, subPath);
    }
  };
  prepare(program, []);
  await program.parseAsync(['node', 'hdm', ...argv]);
  if (!seen) throw new Error(`no command ran for: hdm ${argv.join(' ')}`);
  return seen;
}

describe('docker-compose.yml', () => {
  it('gives every service of the project a command the CLI accepts', async () => {
    const commands = projectServices.filter(([, s]) => s.command);
    expect(commands.map(([name]) => name).sort()).toEqual(['api', 'loader', 'mapper', 'poller']);
    for (const [name, service] of commands) {
      const { path, args } = await parsedBy(service.command!);
      expect(path, name).toEqual(['serve']);
      expect(args[0], name).toBe(name);
      const opts = args[1] as { config: string[]; clickhouseUrl?: string };
      expect(opts.config, name).toEqual(['/config/migration.yaml']);
      expect(opts.clickhouseUrl, name).toBe('http://clickhouse:8123');
    }
    // The recorder is strict: a flag the CLI lacks is refused, so the check above can fail.
    await expect(parsedBy(['serve', 'loader', '--config', 'm.yaml', '--no-such-flag'])).rejects.toThrow(/unknown option/);
  });

  it('gives the cluster services Kafka, the registry and the ledger through their environment', () => {
    expect(clusterServices.map(([name]) => name).sort()).toEqual(['loader', 'mapper', 'poller']);
    const example = parse(readFileSync(new URL('../../examples/migration.example.yaml', import.meta.url), 'utf8'));
    const config = parseMigrationConfig({ ...example, ledger: { ...example.ledger, clickhouseUrl: 'http://clickhouse:8123' } }, 'example');
    const advertised = services.kafka.environment!.KAFKA_ADVERTISED_LISTENERS;
    for (const [name, service] of clusterServices) {
      const settings = clusterSettings(config, {}, service.environment!);
      expect(settings.brokers, name).toEqual(['kafka:9092']);
      expect(advertised, name).toContain(`://${settings.brokers[0]}`);
      expect(new URL(settings.registryUrl).host, name).toBe(`schema-registry:${new URL(services['schema-registry'].environment!.SCHEMA_REGISTRY_LISTENERS).port}`);
      // The example's credentials are environment variables; each reaches the service.
      for (const variable of ['ZENDESK_EMAIL', 'ZENDESK_API_TOKEN', 'FRESHDESK_API_KEY']) expect(Object.keys(service.environment!), name).toContain(variable);
    }
  });

  it('starts the cluster services only once Kafka, the registry and ClickHouse are healthy, with loader replicas', () => {
    for (const [name, service] of clusterServices) {
      expect(Object.keys(service.depends_on ?? {}).sort(), name).toEqual(['clickhouse', 'kafka', 'schema-registry']);
      for (const [dependency, { condition }] of Object.entries(service.depends_on!)) {
        expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
        expect(services[dependency].healthcheck?.test.length, dependency).toBeGreaterThan(0);
      }
    }
    expect(services.loader.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(services.kafka.environment!.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(services['schema-registry'].environment!.SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL).toBe('backward');
  });

  it('publishes every port on 127.0.0.1 only', () => {
    const published = Object.entries(services).filter(([, s]) => s.ports?.length);
    expect(published.map(([name]) => name).sort()).toEqual(['api', 'clickhouse', 'kafka', 'schema-registry']);
    for (const [name, service] of published) {
      for (const port of service.ports!) expect(hostAddressOf(port), `${name}: ${JSON.stringify(port)}`).toBe('127.0.0.1');
    }
    for (const [name, service] of Object.entries(services)) expect(service.network_mode, name).toBeUndefined();
    // The reading of a port is strict: the forms that bind every interface are told apart.
    expect(['8080:8080', '0.0.0.0:8080:8080', { target: 8080, published: 8080 }].map(hostAddressOf)).toEqual([undefined, '0.0.0.0', undefined]);
  });

  it('refuses to start ClickHouse without a password, and gives every hdm service the same login', () => {
    const clickhouse = services.clickhouse;
    expect(Object.keys(clickhouse.environment!)).not.toContain('CLICKHOUSE_SKIP_USER_SETUP');
    expect(() => environmentOf(clickhouse, {})).toThrow(/CLICKHOUSE_PASSWORD/);
    expect(() => environmentOf(clickhouse, { CLICKHOUSE_PASSWORD: '' })).toThrow(/CLICKHOUSE_PASSWORD/);
    const example = parse(readFileSync(new URL('../../examples/migration.example.yaml', import.meta.url), 'utf8'));
    const config = parseMigrationConfig({ ...example, ledger: { ...example.ledger, clickhouseUrl: 'http://clickhouse:8123' } }, 'example');
    expect(config.ledger.username).toBeUndefined();
    for (const userEnv of [{ CLICKHOUSE_PASSWORD: 'pw-7f3a' }, { CLICKHOUSE_PASSWORD: 'pw-7f3a', CLICKHOUSE_USER: 'ops' }] as Record<string, string>[]) {
      const server = environmentOf(clickhouse, userEnv);
      expect(server.CLICKHOUSE_PASSWORD).toBe('pw-7f3a');
      expect(server.CLICKHOUSE_USER).toBe(userEnv.CLICKHOUSE_USER ?? 'hdm');
      expect(projectServices.map(([name]) => name).sort()).toEqual(['api', 'hdm', 'loader', 'mapper', 'poller']);
      for (const [name, service] of projectServices) {
        expect(() => environmentOf(service, {}), name).toThrow(/CLICKHOUSE_PASSWORD/);
        expect(ledgerCredentials(config, environmentOf(service, userEnv)), name).toEqual({ username: server.CLICKHOUSE_USER, password: server.CLICKHOUSE_PASSWORD });
      }
    }
    // A migration file that names its own variables keeps them.
    const own = parseMigrationConfig({ ...example, ledger: { username: { env: 'MY_USER' }, password: { env: 'MY_PASSWORD' } } }, 'example');
    expect(ledgerCredentials(own, { MY_USER: 'me', MY_PASSWORD: 'mine', HDM_CLICKHOUSE_USER: 'hdm', HDM_CLICKHOUSE_PASSWORD: 'other' })).toEqual({ username: 'me', password: 'mine' });
  });

  it('runs the hdm image as an unprivileged user that owns the state volume', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+\s/.test(l));
    const users = instructions.filter((l) => l.startsWith('USER '));
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.slice('USER '.length).trim().split(':')[0];
    expect(['root', '0']).not.toContain(user);
    // The last USER comes after the last RUN: nothing later runs as root at start-up.
    expect(instructions.findLastIndex((l) => l.startsWith('USER '))).toBeGreaterThan(instructions.findLastIndex((l) => l.startsWith('RUN ')));
    for (const [name, service] of projectServices) expect(['root', '0'], name).not.toContain(String(service.user ?? user).split(':')[0]);
    for (const [name, service] of projectServices.filter(([, s]) => s.volumes?.some((v) => v.startsWith('hdm-state:')))) {
      const dir = service.volumes!.find((v) => v.startsWith('hdm-state:'))!.split(':')[1];
      expect(dockerfile, name).toMatch(new RegExp(`chown ${user}(:\\w+)? ${dir.replace(/\./g, '\\.')}(\\s|$)`, 'm'));
    }
  });

  it('shows in the file itself how to put a TLS proxy in front of the API', () => {
    const lines = composeText.split('\n');
    const start = lines.findIndex((l) => /^#\s+tls-proxy:$/.test(l));
    expect(start).toBeGreaterThan(-1);
    const block: string[] = [];
    for (const line of lines.slice(start)) {
      if (!/^#\s{3}/.test(line)) break;
      block.push(line.slice(1));
    }
    const proxy = (parse(block.join('\n')) as Record<string, ComposeService>)['tls-proxy'];
    const apiCommand = services.api.command!;
    const apiPort = apiCommand[apiCommand.indexOf('--port') + 1];
    expect(proxy.command, 'proxies to the api service').toContain(`api:${apiPort}`);
    expect(proxy.ports).toContain('443:443');
    expect(services.api.ports!.map(hostAddressOf)).toEqual(['127.0.0.1']);
  });
});

