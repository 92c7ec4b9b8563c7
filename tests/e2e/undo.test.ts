import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '../../connectors/registry.ts';
import type { Connector, WriteContext } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { ENTITIES, type Agent, type EntityName, type Group } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { openLedger } from '../../services/ledger/clickhouse-ledger.ts';
import { migrateCommand } from '../../services/cli/commands.ts';
import { formatUndo, undoCommand } from '../../services/cli/undo.command.ts';
import { undoRun } from '../../services/undo/undo.ts';
import { FileCheckpointStore } from '../../services/poller/checkpoint-store.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { join } from 'node:path';

type Snapshot = Record<string, Map<string, string>>;

/** Every record the target holds, entity by entity, as target ID → its canonical JSON. */
async function snapshot(target: Connector): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const entity of ENTITIES) {
    if (!target.capabilities.entities.includes(entity)) continue;
    const records = new Map<string, string>();
    for await (const page of target.read(entity, null, { overlapSeconds: 0 })) {
      for (const e of page.records) if (e.op === 'upsert') records.set(e.sourceId, JSON.stringify(e.record));
    }
    out[entity] = records;
  }
  return out;
}

const ids = (s: Snapshot) => Object.fromEntries(Object.entries(s).map(([entity, m]) => [entity, [...m.keys()].sort()]));

const writeContext: WriteContext = {
  stamp: 'seeded-by-hand',
  knownChildren: {},
  openAttachment: async () => {
    throw new Error('no attachments');
  },
};

async function connectorTo(sandbox: MigrationEnv['target']): Promise<Connector> {
  return (await platform(sandbox.platform)).createConnector({ url: sandbox.url, credentials: sandbox.credentials });
}

async function first<E extends EntityName>(c: Connector, entity: E, pick: (r: never) => boolean) {
  for await (const page of c.read(entity, null)) for (const e of page.records) if (e.op === 'upsert' && pick(e.record as never)) return e.record;
  throw new Error(`no ${entity} to pick`);
}

async function ledgerRows(m: MigrationEnv, sql: string) {
  const ledger = await openLedger({ migration: String(m.config.name), path: join(String(m.config.stateDir), 'ledger') });
  try {
    return await ledger.query(sql);
  } finally {
    await ledger.close();
  }
}

for (const [from, to] of [
  ['freshdesk', 'zendesk'],
  ['zendesk', 'freshdesk'],
] as const) {
  describe(`hdm undo ${from} → ${to}`, () => {
    let m: MigrationEnv;
    let source: Connector;
    let target: Connector;
    beforeAll(async () => {
      const why = '12 tickets with up to 30 comments each, written, read back in snapshots and undone: more than the 700 requests a minute, minutes of waiting; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts';
      m = await migrationEnv(from, to, { tickets: 12, seed: 31, articles: 4, unthrottled: why }, {}, { immediateExports: "Snapshots read a Zendesk target's export right after each write", unthrottled: why });
      source = await connectorTo(m.source);
      target = await connectorTo(m.target);
    });
    afterAll(async () => {
      await Promise.allSettled([source?.close(), target?.close()]);
      await m?.close();
    });

    it('deletes exactly what the run created, keeps what it matched, and records every deletion', async () => {
      // The target already has an agent and a group that also exist at the source: the run matches them.
      const agent = (await first(source, 'agent', (a: Agent) => a.active && a.email !== null && a.role === 'agent')) as Agent;
      const group = (await first(source, 'group', () => true)) as Group;
      const seededAgent = await target.create('agent', { ...agent, groupIds: [] }, writeContext);
      const seededGroup = await target.create('group', group, writeContext);

      const before = await snapshot(target);
      const config = parseMigrationConfig(m.config);
      const out = captureOutput();
      expect(await migrateCommand(config, { json: true, progress: false, verify: false }, out, m.env)).toBe(0);
      const run = JSON.parse(out.stdout.join('\n'));
      expect(run.counts.agent.matched).toBeGreaterThanOrEqual(1);
      expect(run.counts.group.matched).toBeGreaterThanOrEqual(1);
      expect(run.counts.ticket.created).toBe(12);
      const afterMigrate = await snapshot(target);
      expect(afterMigrate.ticket.size).toBe(before.ticket.size + 12);

      // Dry run: nothing changes, the plan names every created record.
      const dry = captureOutput();
      expect(await undoCommand(config, run.run.runId, { json: true }, dry, m.env)).toBe(0);
      const plan = JSON.parse(dry.stdout.join('\n'));
      expect(plan.dryRun).toBe(true);
      expect(plan.entities.ticket.created).toBe(12);
      expect(plan.entities.ticket.wouldDelete).toHaveLength(12);
      expect(ids(await snapshot(target))).toEqual(ids(afterMigrate));

      // One created ticket vanishes on the target behind our back: undo counts it as deleted.
      const goneTicket = plan.entities.ticket.wouldDelete[0].targetId as string;
      await target.delete('ticket', goneTicket);

      const real = captureOutput();
      expect(await undoCommand(config, run.run.runId, { yes: true, json: true, progress: false }, real, m.env)).toBe(0);
      const report = JSON.parse(real.stdout.join('\n'));
      expect(report.dryRun).toBe(false);
      expect(report.totals.failed).toBe(0);
      expect(report.totals.refused).toBe(0);
      expect(report.entities.ticket.deleted).toBe(12);
      let createdTotal = 0;
      for (const entity of Object.keys(run.counts)) createdTotal += run.counts[entity].created;
      expect(report.totals.deleted).toBe(createdTotal);

      // The next migrate starts a new full run instead of resuming the undone one's cursors.
      expect((await new FileCheckpointStore(String(m.config.stateDir)).load()).full).toBeNull();

      // The target holds exactly what it held before the run, record by record.
      const after = await snapshot(target);
      expect(ids(after)).toEqual(ids(before));
      const matched = new Set([seededAgent.targetId, seededGroup.targetId]);
      for (const [entity, records] of Object.entries(before)) {
        for (const [id, json] of records) if (!matched.has(id)) expect(after[entity].get(id), `${entity} ${id}`).toBe(json);
      }
      expect(after.agent.has(seededAgent.targetId)).toBe(true);
      expect(after.group.has(seededGroup.targetId)).toBe(true);

      // The ledger has one `undone` row per deletion, and the id map entries are marked deleted.
      const undone = await ledgerRows(m, `SELECT count() AS n FROM load_attempts WHERE outcome = 'undone' AND run_id = '${report.undoRunId}'`);
      expect(Number(undone[0].n)).toBe(createdTotal);
      const live = await ledgerRows(m, `SELECT count() AS n FROM id_map FINAL WHERE created = 1 AND deleted = 0 AND target_id != ''`);
      expect(Number(live[0].n)).toBe(0);
      const kinds = await ledgerRows(m, `SELECT kind, status FROM runs FINAL WHERE run_id = '${report.undoRunId}'`);
      expect(kinds[0]).toMatchObject({ kind: 'undo', status: 'succeeded' });

      // Again: nothing left to do.
      const again = captureOutput();
      expect(await undoCommand(config, run.run.runId, { yes: true, json: true, progress: false }, again, m.env)).toBe(0);
      expect(JSON.parse(again.stdout.join('\n')).totals).toEqual({ created: 0, deleted: 0, refused: 0, failed: 0, filesRemoved: 0 });

      // A later migrate creates the undone records again.
      const remigrate = captureOutput();
      expect(await migrateCommand(config, { json: true, progress: false, verify: false }, remigrate, m.env)).toBe(0);
      const second = JSON.parse(remigrate.stdout.join('\n'));
      expect(second.counts.ticket.created).toBe(12);
      expect((await snapshot(target)).ticket.size).toBe(before.ticket.size + 12);
      // Undoing the first run again touches nothing the second one created.
      const stale = captureOutput();
      expect(await undoCommand(config, run.run.runId, { yes: true, json: true, progress: false }, stale, m.env)).toBe(0);
      expect(JSON.parse(stale.stdout.join('\n')).totals.created).toBe(0);
      expect((await snapshot(target)).ticket.size).toBe(before.ticket.size + 12);

      // An undo that dies half-way (the target stops answering) finishes when run again.
      const ledger = await openLedger({ migration: String(m.config.name), path: join(String(m.config.stateDir), 'ledger') });
      try {
        let deletes = 0;
        const dying = Object.create(target) as Connector;
        dying.delete = async (entity, id) => {
          if (++deletes > 5) throw new HdmError('AUTH_FAILED', 'target stopped answering');
          return target.delete(entity, id);
        };
        await expect(undoRun({ migration: String(m.config.name), target: dying, ledger, concurrency: 2 }, second.run.runId, { dryRun: false })).rejects.toThrow('target stopped answering');
        const rest = await undoRun({ migration: String(m.config.name), target, ledger }, second.run.runId, { dryRun: false });
        expect(rest.totals.failed).toBe(0);
        expect(rest.totals.deleted).toBeGreaterThan(0);
        expect(rest.totals.deleted).toBeLessThan(createdTotal);
      } finally {
        await ledger.close();
      }
      expect(ids(await snapshot(target))).toEqual(ids(before));

      // A platform that cannot delete agents (as RT cannot): undo lists them instead, and says why.
      const third = captureOutput();
      expect(await migrateCommand(config, { json: true, progress: false, verify: false }, third, m.env)).toBe(0);
      const runId = JSON.parse(third.stdout.join('\n')).run.runId as string;
      const keepsAgents = Object.create(target) as Connector;
      Object.defineProperty(keepsAgents, 'capabilities', { value: { ...target.capabilities, undeletable: { agent: 'this platform only disables users' } } });
      const ledger2 = await openLedger({ migration: String(m.config.name), path: join(String(m.config.stateDir), 'ledger') });
      try {
        const createdAgents: string[] = [];
        for await (const e of ledger2.createdBy(runId, 'agent')) createdAgents.push(e.targetId);
        expect(createdAgents.length).toBeGreaterThan(0);
        const partial = await undoRun({ migration: String(m.config.name), target: keepsAgents, ledger: ledger2 }, runId, { dryRun: false });
        expect(partial.entities.agent!.reason).toBe('this platform only disables users');
        expect(partial.entities.agent!.refused.map((r) => r.targetId).sort()).toEqual(createdAgents.sort());
        expect(partial.entities.agent!.deleted).toBe(0);
        expect(partial.totals.refused).toBe(createdAgents.length);
        const agentsLeft = (await snapshot(target)).agent;
        for (const id of createdAgents) expect(agentsLeft.has(id)).toBe(true);
        expect(formatUndo(partial)).toContain('not deleted: this platform only disables users');
        // Where the platform can, a later undo removes them.
        const rest = await undoRun({ migration: String(m.config.name), target, ledger: ledger2 }, runId, { dryRun: false });
        expect(rest.totals).toEqual({ created: createdAgents.length, deleted: createdAgents.length, refused: 0, failed: 0, filesRemoved: 0 });
      } finally {
        await ledger2.close();
      }
      expect(ids(await snapshot(target))).toEqual(ids(before));
    }, 180_000);
  });
}
