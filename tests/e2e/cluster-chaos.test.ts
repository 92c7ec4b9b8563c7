import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startSandboxProcess, type SandboxProcess } from '../../services/cli/sandbox-process.ts';
import { ensureClickHouse, type ClickHouseInstance } from '../../services/launcher/clickhouse.launcher.ts';
import { ensureKafka } from '../../services/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../../services/launcher/schema-registry.launcher.ts';
import { HDM, hdm } from '../helpers/hdm-process.ts';

/**
 * Issue 5's failure test: the cluster services as separate processes (poller, mapper, two loaders)
 * over a real Kafka, schema registry and ClickHouse HTTP ledger, each killed with SIGKILL at random
 * points and restarted, during a 20,000-ticket migration. The reconciliation must come out clean.
 */
const TICKETS = 20_000;
const KILLS = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Service {
  role: 'poller' | 'mapper' | 'loader';
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: string[];
}

describe('cluster mode: kill -9 during a 20k-ticket migration', () => {
  let source: SandboxProcess;
  let target: SandboxProcess;
  let clickhouse: ClickHouseInstance;
  let dir: string;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  const services = new Map<string, Service>();

  beforeAll(async () => {
    const [kafka, registry, ch, s, t] = await Promise.all([
      ensureKafka(),
      ensureSchemaRegistry(),
      ensureClickHouse({ name: 'chaos', user: 'hdm', password: 'chaos-secret' }),
      // Two comments at most per ticket keep the run within a few minutes on two cores.
      startSandboxProcess('zendesk', { tickets: TICKETS, seed: 11, requestsPerMinute: null, maxComments: 2 }),
      startSandboxProcess('freshdesk', { tickets: 0, seed: 12, requestsPerMinute: null }),
    ]);
    [source, target, clickhouse] = [s, t, ch];
    dir = mkdtempSync(join(tmpdir(), 'hdm-chaos-'));
    const name = `chaos${Date.now().toString(36)}`;
    configFile = join(dir, 'migration.yaml');
    writeFileSync(
      configFile,
      stringify({
        name,
        source: { platform: 'zendesk', url: source.url, concurrency: 16 },
        target: { platform: 'freshdesk', url: target.url, concurrency: 16 },
        stateDir: join(dir, 'state'),
        options: { loaderConcurrency: 8 },
        ledger: { clickhouseUrl: clickhouse.url, database: name, username: { env: 'CH_USER' }, password: { env: 'CH_PASSWORD' } },
        cluster: { brokers: kafka.brokers, registryUrl: registry.url, partitions: 8, sessionTimeoutMs: 6000 },
      }),
    );
    env = { ...process.env, ...source.env, ...target.env, CH_USER: 'hdm', CH_PASSWORD: 'chaos-secret' };
  }, 600_000);

  afterAll(async () => {
    for (const s of services.values()) s.child.kill('SIGKILL');
    await Promise.allSettled([...services.values()].map((s) => s.exited));
    await Promise.allSettled([source?.close(), target?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const start = (role: Service['role'], name: string): Service => {
    const child = spawn(process.execPath, [HDM, 'serve', role, '-c', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    const keep = (d: Buffer) => {
      log.push(...d.toString().split('\n').filter(Boolean));
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const service = { role, name, child, exited, log };
    services.set(name, service);
    return service;
  };

  it('kills a random service five times at random points; 0 missing, 0 mismatched, 0 duplicates', async () => {
    const seed = Date.now() % 100_000;
    let state = seed;
    const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
    const history: string[] = [`seed ${seed}`];

    start('mapper', 'mapper');
    start('loader', 'loader-1');
    start('loader', 'loader-2');
    let poller = start('poller', 'poller');

    let kills = 0;
    for (;;) {
      // A kill every 20–90 s, spread over the run (about ten minutes on two cores); the poller's exit
      // code 0 means every stream settled.
      const wait = 20_000 + random() * 70_000;
      const outcome = await Promise.race([poller.exited.then((code) => ({ code })), sleep(wait).then(() => null)]);
      if (outcome) {
        if (outcome.code === 0 && kills >= KILLS) break;
        if (outcome.code !== 0 && outcome.code !== null) throw new Error(`the poller exited ${outcome.code}:\n${poller.log.join('\n')}\n${history.join('\n')}`);
        if (outcome.code === 0) {
          // Finished before five kills: the run is too quick for this machine's timing; say so plainly.
          throw new Error(`the migration finished after only ${kills} kills:\n${history.join('\n')}`);
        }
      }
      if (kills >= KILLS) continue;
      const running = [...services.values()].filter((s) => s.child.exitCode === null && s.child.signalCode === null);
      const victim = running[Math.floor(random() * running.length)];
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills += 1;
      history.push(`${new Date().toISOString()} killed ${victim.name}`);
      await sleep(random() * 2_000);
      const again = start(victim.role, victim.name);
      if (victim.role === 'poller') poller = again;
    }
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    console.info(`cluster chaos: ${history.join('; ')}; poller finished ${new Date().toISOString()}`);

    for (const s of services.values()) if (s.role !== 'poller') s.child.kill('SIGTERM');
    await Promise.all([...services.values()].map((s) => s.exited));

    const verify = await hdm(['verify', '-c', configFile, '--json'], env);
    expect(verify.stderr).not.toContain('chaos-secret');
    const report = JSON.parse(verify.stdout);
    const summary = JSON.stringify(report.entities, null, 2);
    for (const [entity, counts] of Object.entries(report.entities as Record<string, { source: number; missing: number; mismatched: number; duplicates: number; failed: number }>)) {
      expect(counts.missing, `${entity} missing\n${summary}\n${history.join('\n')}`).toBe(0);
      expect(counts.mismatched, `${entity} mismatched\n${summary}`).toBe(0);
      expect(counts.duplicates, `${entity} duplicates\n${summary}`).toBe(0);
      expect(counts.failed, `${entity} failed\n${summary}`).toBe(0);
    }
    expect(report.entities.ticket.source).toBe(TICKETS);
    expect(report.entities.ticket.loaded).toBe(TICKETS);
    expect(report.clean).toBe(true);
    expect(verify.code).toBe(0);
  }, 1_800_000);
});
