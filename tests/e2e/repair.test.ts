import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '../../connectors/registry.ts';
import type { Connector } from '../../connectors/sdk/contract.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { repairCommand } from '../../services/cli/repair.command.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// Issue: "A record deleted on the target is never re-created, not even with --restart: the id map
// points at a record that is gone, verify reports it missing". `hdm migrate --repair` re-creates
// exactly what verification found missing, rewrites what it found mismatched, and nothing else.

describe.each([
  ['zendesk', 'freshdesk'],
  ['freshdesk', 'zendesk'],
])('%s → %s: records deleted or edited on the target after the migration', (from, to) => {
  let m: MigrationEnv;
  let target: Connector;
  const config = () => parseMigrationConfig(m.config);
  beforeAll(async () => {
    m = await migrationEnv(from, to, { tickets: 15, seed: 12, articles: 0, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { entities: ['group', 'agent', 'organization', 'contact', 'ticketField', 'ticket'] }, { immediateExports: "The test reads a Zendesk target's export right after the migration wrote it", unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const out = captureOutput();
    expect(await migrateCommand(config(), { json: true, progress: false }, out, m.env), out.stderr.join('\n')).toBe(0);
    target = (await platform(to)).createConnector({ url: m.target.url, credentials: m.target.credentials });
  });
  afterAll(async () => {
    await target?.close();
    await m?.close();
  });

  it('--repair re-creates the deleted tickets and rewrites the edited one, and touches nothing else', async () => {
    const stamped: { targetId: string; record: Ticket }[] = [];
    for await (const page of target.read('ticket', null)) {
      for (const e of page.records) if (e.op === 'upsert' && e.stamp) stamped.push({ targetId: e.sourceId, record: e.record as Ticket });
    }
    expect(stamped.length).toBe(m.source.counts().ticket);
    // Zendesk refuses any change to a closed ticket, so the edit goes to an open one.
    const edited = stamped.find((s) => s.record.status !== 'closed')!;
    const [gone1, gone2] = stamped.filter((s) => s !== edited);
    await target.delete('ticket', gone1.targetId);
    await target.delete('ticket', gone2.targetId);
    await target.update('ticket', edited.targetId, { ...edited.record, subject: 'changed on the target' }, { stamp: '', knownChildren: Object.fromEntries(edited.record.comments.map((c) => [c.sourceId, c.sourceId])), openAttachment: () => Promise.reject(new Error('no attachments')) });

    const verified = captureOutput();
    expect(await verifyCommand(config(), { json: true }, verified, m.env)).toBe(1);
    expect(JSON.parse(verified.stdout.join('\n')).entities.ticket).toMatchObject({ missing: 2, mismatched: 1 });

    const out = captureOutput();
    const code = await repairCommand(config(), { json: true }, out, m.env);
    const result = JSON.parse(out.stdout.join('\n'));
    expect(code, JSON.stringify(result.after?.issues)).toBe(0);
    expect(result.repaired.records).toBe(3);
    expect(result.repaired.counts.ticket).toMatchObject({ created: 2, updated: 1, failed: 0 });
    expect(Object.keys(result.repaired.counts)).toEqual(['ticket']);
    expect(result.after.entities.ticket).toMatchObject({ source: m.source.counts().ticket, loaded: m.source.counts().ticket, missing: 0, mismatched: 0, duplicates: 0 });
    expect(result.after.clean).toBe(true);

    const again = captureOutput();
    expect(await repairCommand(config(), { json: true }, again, m.env)).toBe(0);
    expect(JSON.parse(again.stdout.join('\n')).repaired).toBeNull();
  });
});
