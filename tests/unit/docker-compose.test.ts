import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { clusterSettings } from '../../services/cluster/cluster.ts';
import { buildProgram } from '../../services/cli/main.ts';

/**
 * docker-compose.yml cannot be run here (no Docker engine), so what it asks of the project is checked
 * against the project itself: every service command is one the CLI accepts, the cluster services
 * find Kafka and the registry through the environment the file gives them, and they start only
 * after what they need is healthy.
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
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const projectServices = Object.entries(services).filter(([, s]) => s.build === '.');
const clusterServices = Object.entries(services).filter(([, s]) => s.build === '.' && s.profiles?.includes('cluster'));

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
});
