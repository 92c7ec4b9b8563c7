import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import { ENTITIES } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { mapRecord } from '../../services/mapper/record.mapping.ts';
import { tallyTransforms } from '../../services/mapper/transforms.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { ensureClickHouse } from '../../tools/launcher/clickhouse.launcher.ts';
import { ensureKafka } from '../../tools/launcher/kafka.launcher.ts';
import { ensureSchemaRegistry } from '../../tools/launcher/schema-registry.launcher.ts';
import { hdm, hdmService } from '../helpers/hdm-process.ts';
import { migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

/**
 * Customers who appear at the source after the contact stream was read, each on several new tickets:
 * two loader processes meet each new customer at once, through tickets on different partitions, and
 * hand it to the loader of its own partition. Each must exist once on the target, and every ticket must
 * load and reconcile (a hand-off that never loads leaves the tickets without their requester).
 *
 * Both loaders join every group before the poller starts, so each loads agents the other knows only
 * from the ledger: tickets of deactivated agents must reach the default agent in both (they reached
 * nobody in the loader that had not migrated it, until its remembered miss was looked at again).
 */
describe('cluster mode: records met only as references, by two loaders at once', () => {
  let m: MigrationEnv;
  let source: ZendeskSandbox;
  let brokers: string[];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const [kafka, registry, clickhouse] = await Promise.all([ensureKafka(), ensureSchemaRegistry(), ensureClickHouse()]);
    const name = `late${Date.now().toString(36)}`;
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 200, seed: 21, articles: 2, maxComments: 2, immediateExports: 'The delta reads customers and tickets made at the source a moment before', unthrottled: '200 tickets with their customers, loaded by a cluster are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {
      name,
      ledger: { clickhouseUrl: clickhouse.url, database: name },
      cluster: { brokers: kafka.brokers, registryUrl: registry.url, partitions: 8, sessionTimeoutMs: 6000 },
      options: { loaderConcurrency: 8 },
    }, { unthrottled: '200 tickets with their customers, loaded by a cluster are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    writeFileSync(m.configFile, stringify(m.config));
    source = m.source as ZendeskSandbox;
    brokers = kafka.brokers;
  }, 300_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await m?.close();
  });

  const serve = (role: string) => hdmService(['serve', role, '-c', m.configFile], m.env, children);

  const untilLoadersJoined = async (members: number) => {
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const groups = ENTITIES.map((e) => `hdm.${m.config.name}.planned-${e}.loader`);
      for (const started = Date.now(); ; ) {
        const described = await admin.describeGroups(groups);
        if (described.groups.every((g) => g.state === 'Stable' && g.members.length === members)) return;
        if (Date.now() - started > 120_000) throw new Error(`the loaders did not join their groups: ${JSON.stringify(described.groups.map((g) => [g.groupId, g.state, g.members.length]))}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await admin.disconnect();
    }
  };

  /** What failed on the way, even when a later attempt loaded it, and the workers' last words: the reason a reference went astray. */
  const explain = async (what: string) => {
    const failed = await hdm(['sql', '-c', m.configFile, "SELECT entity, source_id, error_code, error_message, attempt_at FROM load_attempts WHERE outcome = 'failed' ORDER BY attempt_at"], m.env);
    console.log(`late refs: ${what}\nfailed attempts:\n${failed.stdout}${failed.stderr}`);
    for (const [i, w] of workers.entries()) console.log(`late refs: worker ${i} log:\n${w.log().split('\n').filter((l) => !l.includes('"level":30')).slice(-80).join('\n')}`);
    console.log(`late refs: poller log:\n${poller?.log().slice(-5000)}`);
  };
  let workers: ReturnType<typeof serve>[] = [];
  let poller: ReturnType<typeof serve> | undefined;

  it('creates each new customer once and points every ticket at it', async () => {
    const targetBefore = m.target.counts().contact;
    const streamed = m.source.counts().contact;
    workers = [serve('mapper'), serve('loader'), serve('loader')];
    // Both loaders in every planned topic's group before the first record: each builds the run's loader
    // before the agent stream, and each loads some agents the other then only finds in the ledger.
    await untilLoadersJoined(2);
    const pollerProcess = serve('poller');
    poller = pollerProcess;

    // Once the contact stream has settled and before the tickets are read: new customers and their tickets.
    for (let i = 0; !pollerProcess.log().includes('contact: settled'); i++) {
      if (pollerProcess.child.exitCode !== null || i > 1200) throw new Error(`the poller did not settle its contacts:\n${pollerProcess.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const auth = `Basic ${Buffer.from(`${source.credentials.email}/token:${source.credentials.apiToken}`).toString('base64')}`;
    const newTickets: number[] = [];
    const customers: number[] = [];
    for (let c = 0; c < 3; c++) {
      const res = await fetch(`${source.url}/api/v2/users.json`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ user: { name: `Late Customer ${c}`, email: `late-${c}-${Date.now()}@example.org`, role: 'end-user' } }),
      });
      expect(res.status).toBe(201);
      const user = ((await res.json()) as { user: { id: number } }).user;
      customers.push(user.id);
      for (let t = 0; t < 8; t++) newTickets.push(source.createTicket({ subject: `late ${c}.${t}`, requester_id: user.id, comment: { body: 'hello', public: true } }).id);
    }

    const pollerExit = await pollerProcess.exited;
    if (pollerExit !== 0) await explain('the poller exited with failures');
    expect(pollerExit, pollerProcess.log()).toBe(0);

    // The new customers went through their own planned topic (handed off), after the contact stream's.
    const admin = new Kafka({ brokers: brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(`hdm.${m.config.name}.planned-contact`);
      const published = offsets.reduce((n, p) => n + Number(p.high), 0);
      expect(published).toBeGreaterThanOrEqual(streamed + customers.length);
    } finally {
      await admin.disconnect();
    }
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));

    // Each new customer once on the target: the target gained exactly the source's contacts.
    expect(m.target.counts().contact - targetBefore).toBe(m.source.counts().contact);
    const verify = await hdm(['verify', '-c', m.configFile, '--json'], m.env);
    const report = JSON.parse(verify.stdout);
    if (!report.clean) await explain(`entities: ${JSON.stringify(report.entities)}\nissues: ${JSON.stringify(report.issues)}`);
    expect(report.entities.contact, JSON.stringify(report.entities, null, 2)).toMatchObject({ missing: 0, duplicates: 0, failed: 0 });
    expect(report.entities.ticket, JSON.stringify(report.issues).slice(0, 3000)).toMatchObject({ source: 200 + newTickets.length, loaded: 200 + newTickets.length, missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
    expect(report.clean, JSON.stringify(report.issues).slice(0, 2000)).toBe(true);
    expect(verify.code).toBe(0);

    // The run's transformations, counted by the loader services in the ledger, are what the mapper
    // applies to the records it created (every record is new here): the same report as in one process.
    const runtime = await openRuntime(parseMigrationConfig(m.config), m.env);
    try {
      const expected: Record<string, number> = {};
      for (const entity of ENTITIES) {
        for (const e of await readAll(runtime.source, entity)) {
          if (e.op !== 'upsert') continue;
          const mapped = mapRecord(entity, e.record, runtime.rules);
          if (mapped.kind === 'planned') tallyTransforms(mapped.notes, expected);
        }
      }
      expect(Object.keys(expected).length).toBeGreaterThan(0);
      const full = (await runtime.ledger.runs()).find((r) => r.kind === 'full');
      expect(full?.summary.transformations).toEqual(expected);
    } finally {
      await runtime.close();
    }
  }, 900_000);
});
