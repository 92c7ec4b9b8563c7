import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { platform } from '../../connectors/registry.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { ensureClickHouse } from '../../tools/launcher/clickhouse.launcher.ts';
import { ensureKafka } from '../../tools/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../../tools/launcher/schema-registry.launcher.ts';
import { hdm, hdmService } from '../helpers/hdm-process.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

const DAY = 86_400_000;
// The seeded helpdesks end at 2026-06-01 (connectors/sdk/fake-helpdesk.ts): a window reaching 120 days
// behind that puts some solved and closed tickets in the working set by their age alone.
const recentDays = Math.ceil((Date.now() - Date.parse('2026-06-01T00:00:00Z')) / DAY) + 120;
const TICKETS = 120;

/**
 * Express order when poller, mapper and loaders are processes of their own over Kafka: the poller may
 * call the working set complete only once the loader services have put every working-set ticket (and
 * the contacts and organizations it names) on the target, so no history ticket is created before the
 * last working-set one; the run reconciles as clean as in one process.
 */
describe('cluster mode: express order', () => {
  let m: MigrationEnv;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const [kafka, registry, clickhouse] = await Promise.all([ensureKafka(), ensureSchemaRegistry(), ensureClickHouse()]);
    const name = `xpress${Date.now().toString(36)}`;
    const unthrottled = `express order over ${TICKETS} tickets loaded by a cluster is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts`;
    m = await migrationEnv(
      'zendesk',
      'freshdesk',
      { tickets: TICKETS, seed: 33, articles: 2, maxComments: 2, immediateExports: 'verification reads what the cluster wrote a moment before', unthrottled },
      {
        name,
        ledger: { clickhouseUrl: clickhouse.url, database: name },
        cluster: { brokers: kafka.brokers, registryUrl: registry.url, partitions: 4, sessionTimeoutMs: 6000 },
        options: { loaderConcurrency: 8, order: 'express', express: { recentDays } },
      },
      { unthrottled },
    );
    writeFileSync(m.configFile, stringify(m.config));
  }, 300_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await m?.close();
  });

  const serve = (role: string) => hdmService(['serve', role, '-c', m.configFile], m.env, children);

  it('puts the whole working set on the target before any history ticket, and reconciles clean', async () => {
    const workers = [serve('mapper'), serve('loader'), serve('loader')];
    const poller = serve('poller');
    const pollerExit = await poller.exited;
    expect(pollerExit, poller.log().slice(-5000)).toBe(0);
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));

    // The working set as the run fixed it, from the run's own record in the ledger.
    const runtime = await openRuntime(parseMigrationConfig(m.config), m.env);
    let ws: { complete: boolean; recentSince: string; statuses: string[] };
    let tickets: Ticket[];
    try {
      const full = (await runtime.ledger.runs()).find((r) => r.kind === 'full');
      ws = (full?.summary as { workingSet?: typeof ws } | undefined)?.workingSet as typeof ws;
      expect(ws, JSON.stringify(full?.summary)).toMatchObject({ complete: true });
      tickets = (await readAll(runtime.source, 'ticket')).flatMap((e) => (e.op === 'upsert' ? [e.record as Ticket] : []));
    } finally {
      await runtime.close();
    }
    const inSet = (t: Ticket) => ws.statuses.includes(t.status) || Date.parse(t.updatedAt) >= Date.parse(ws.recentSince);
    const working = tickets.filter(inSet);
    const history = tickets.filter((t) => !inSet(t));
    expect(working.length).toBeGreaterThan(0);
    expect(history.length).toBeGreaterThan(0);

    // The Freshdesk sandbox numbers tickets in creation order: every working-set ticket below every history one.
    const target = (await platform('freshdesk')).createConnector({ url: m.target.url, credentials: m.target.credentials });
    const ids = new Map<string, number>();
    try {
      for (const t of tickets) {
        const ref = await target.find('ticket', t, `zendesk:${t.sourceId}`);
        if (ref) ids.set(t.sourceId, Number(ref.targetId));
      }
    } finally {
      await target.close();
    }
    expect(ids.size).toBe(TICKETS);
    const lastWorking = Math.max(...working.map((t) => ids.get(t.sourceId)!));
    const firstHistory = Math.min(...history.map((t) => ids.get(t.sourceId)!));
    expect(lastWorking, 'a history ticket was created on the target before the working set was complete').toBeLessThan(firstHistory);

    const verify = await hdm(['verify', '-c', m.configFile, '--json'], m.env);
    const report = JSON.parse(verify.stdout);
    for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
      expect(stats, entity).toMatchObject({ missing: 0, duplicates: 0, mismatched: 0, failed: 0 });
    }
    expect(report.clean, JSON.stringify(report.issues).slice(0, 2000)).toBe(true);
    expect(verify.code).toBe(0);
    expect(m.target.counts().ticket).toBe(TICKETS);
    expect(m.target.counts().contact).toBe(m.source.counts().contact);
  }, 900_000);
});
