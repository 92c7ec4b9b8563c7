import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { deltaCommand, migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { runDeltaPass } from '../../services/pipeline/delta.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

async function verifyClean(m: MigrationEnv, config = parseMigrationConfig(m.config)) {
  const out = captureOutput();
  const code = await verifyCommand(config, { json: true }, out, m.env);
  const report = JSON.parse(out.stdout.join('\n'));
  return { code, report };
}

async function delta(m: MigrationEnv, config = parseMigrationConfig(m.config)) {
  const out = captureOutput();
  const code = await deltaCommand(config, { json: true }, out, m.env);
  return { code, pass: JSON.parse(out.stdout[0]) };
}

describe('delta after a full run (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  let source: ZendeskSandbox;
  let target: FreshdeskSandbox;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 30, seed: 12, articles: 4, maxComments: 4, immediateExports: 'Each delta reads changes made a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    source = m.source as ZendeskSandbox;
    target = m.target as FreshdeskSandbox;
  });
  afterAll(async () => m?.close());

  it('refuses before a full run has finished', async () => {
    const out = captureOutput();
    await expect(deltaCommand(parseMigrationConfig(m.config), { json: true }, out, m.env)).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('carries new and changed tickets with their new comments, once, and reconciles clean', async () => {
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const ticketsBefore = target.counts().ticket;

    // Agents keep working at the source after the full run.
    const created = source.createTicket({ subject: 'New after cutoff — Grüße', comment: { body: '<p>Brand new ticket</p>', public: true } });
    source.updateTicket(3, { subject: 'Changed after the full run', status: 'pending', tags: ['changed', 'delta'] });
    source.addComment(5, { body: 'A reply written during the migration', public: true });
    source.addComment(5, { body: 'An internal note', public: false });

    const first = await delta(m, config);
    expect(first.code).toBe(0);
    expect(first.pass.counts.ticket.created).toBe(1);
    expect(first.pass.counts.ticket.updated).toBe(2);
    expect(first.pass.lag).not.toBeNull();
    expect(target.counts().ticket).toBe(ticketsBefore + 1);

    const { code, report } = await verifyClean(m, config);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);

    // The overlap window re-reads recent changes: absorbed, nothing created or appended twice.
    const second = await delta(m, config);
    expect(second.pass.counts.ticket.created).toBe(0);
    expect(second.pass.counts.ticket.updated).toBe(0);
    expect(target.counts().ticket).toBe(ticketsBefore + 1);
    const rt = await openRuntime(config, m.env);
    try {
      const mapped = await rt.ledger.lookupIds('ticket', ['5', String(created.id)]);
      const five = (await rt.target.get('ticket', mapped.get('5')!.targetId)) as Ticket;
      expect(five.comments.filter((c) => c.body.includes('A reply written during the migration'))).toHaveLength(1);
      expect(five.comments.filter((c) => c.body.includes('An internal note') && !c.public)).toHaveLength(1);
    } finally {
      await rt.close();
    }
  });

  it('applies the conflict policy when the target copy was edited since the last load', async () => {
    const base = parseMigrationConfig(m.config);
    // A ticket agents are still working on (closed tickets cannot change at the source).
    const open = source.createTicket({ subject: 'Conflict candidate', status: 'open', comment: { body: 'Help please', public: true } });
    await delta(m, base);
    const rt = await openRuntime(base, m.env);
    const targetId = Number((await rt.ledger.lookupIds('ticket', [String(open.id)])).get(String(open.id))!.targetId);
    await rt.close();

    // skip: the target's edit stays, the ledger records the conflict.
    target.updateTicket(targetId, { subject: 'Edited by an agent in the target' });
    source.updateTicket(open.id, { subject: 'Edited at the source' });
    const skip = parseMigrationConfig({ ...m.config, options: { conflictPolicy: 'skip' } });
    const skipped = await delta(m, skip);
    expect(skipped.pass.counts.ticket.conflicts).toBe(1);
    expect(skipped.pass.counts.ticket.skipped).toBe(1);
    expect(await subjectOf(m, targetId)).toBe('Edited by an agent in the target');

    // report: kept as well, and counted as a failure with the reason.
    source.updateTicket(open.id, { subject: 'Edited at the source again' });
    const report = parseMigrationConfig({ ...m.config, options: { conflictPolicy: 'report' } });
    const reported = await delta(m, report);
    expect(reported.code).toBe(1);
    expect(reported.pass.counts.ticket.failed).toBe(1);

    // source-wins (the default): overwritten, and still recorded as a conflict.
    source.updateTicket(open.id, { subject: 'The source wins' });
    const wins = await delta(m, base);
    expect(wins.pass.counts.ticket.conflicts).toBe(1);
    expect(await subjectOf(m, targetId)).toBe('The source wins');
  });

  it('keeps streaming with --follow, each pass its own run in the ledger', async () => {
    const config = parseMigrationConfig(m.config);
    const out = captureOutput();
    const during = source.createTicket({ subject: 'Arrives during follow', comment: { body: 'hello', public: true } });
    const code = await deltaCommand(config, { json: true, follow: true, intervalMs: 50, maxPasses: 2 }, out, m.env);
    expect(code).toBe(0);
    const passes = out.stdout.map((line) => JSON.parse(line));
    expect(passes).toHaveLength(2);
    expect(new Set(passes.map((p) => p.run.runId)).size).toBe(2);
    expect(passes[0].counts.ticket.created + passes[1].counts.ticket.created).toBe(1);
    const rt = await openRuntime(config, m.env);
    try {
      const runs = await rt.ledger.runs();
      for (const p of passes) expect(runs.find((r) => r.runId === p.run.runId)).toMatchObject({ kind: 'delta', status: 'succeeded' });
      expect((await rt.ledger.lookupIds('ticket', [String(during.id)])).size).toBe(1);
    } finally {
      await rt.close();
    }
  });

  it('carries a dropdown option added at the source after the full run, with the ticket that uses it', async () => {
    const config = parseMigrationConfig(m.config);
    const auth = `Basic ${Buffer.from(`${source.credentials.email}/token:${source.credentials.apiToken}`).toString('base64')}`;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${source.url}/api/v2/${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      return res.json() as Promise<Record<string, any>>;
    };
    const fields = (await api('GET', 'ticket_fields.json')).ticket_fields as { id: number; title: string; custom_field_options?: { id: number; name: string; value: string }[] }[];
    const product = fields.find((f) => f.title === 'Product')!;
    await api('PUT', `ticket_fields/${product.id}.json`, {
      ticket_field: { custom_field_options: [...product.custom_field_options!.map((o) => ({ id: o.id, name: o.name, value: o.value })), { name: 'Ultimate', value: 'product_ultimate' }] },
    });
    const ticket = source.createTicket({ subject: 'Wants the new edition', comment: { body: 'Ultimate please', public: true } });
    source.updateTicket(ticket.id, { custom_fields: [{ id: product.id, value: 'product_ultimate' }] });
    const { code, pass } = await delta(m, config);
    expect(code).toBe(0);
    expect(pass.counts.ticket.failed).toBe(0);
    const rt = await openRuntime(config, m.env);
    try {
      const mapped = (await rt.ledger.lookupIds('ticket', [String(ticket.id)])).get(String(ticket.id))!;
      const onTarget = (await rt.target.get('ticket', mapped.targetId)) as Ticket;
      expect(Object.values(onTarget.customFields)).toContain('Ultimate');
    } finally {
      await rt.close();
    }
    expect((await verifyClean(m, config)).report.entities.ticketField).toMatchObject({ missing: 0, mismatched: 0 });
  });

  it('refuses after the retention period', async () => {
    const config = parseMigrationConfig({ ...m.config, options: { retentionDays: 1 } });
    const rt = await openRuntime(config, m.env);
    try {
      await expect(runDeltaPass(rt.deps(), () => new Date(Date.now() + 2 * 86_400_000))).rejects.toMatchObject({ code: 'RETENTION_EXPIRED' });
    } finally {
      await rt.close();
    }
  });

  it('continues from a restarted full run\'s cursors', async () => {
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false, restart: true }, captureOutput(), m.env)).toBe(0);
    source.updateTicket(9, { subject: 'After the restarted full run' });
    const after = await delta(m, config);
    expect(after.pass.counts.ticket.updated).toBe(1);
    expect(after.pass.run.summary.pass).toBe(1);
    const { code, report } = await verifyClean(m, config);
    expect(report.issues).toEqual([]);
    expect(code).toBe(0);
  });
});

async function subjectOf(m: MigrationEnv, targetId: number): Promise<string> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    return ((await rt.target.get('ticket', String(targetId))) as Ticket).subject;
  } finally {
    await rt.close();
  }
}
