import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '../../connectors/registry.ts';
import type { Connector } from '../../connectors/sdk/contract.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { FRESHDESK_CAPABILITIES } from '../../connectors/freshdesk/freshdesk.writer.ts';
import { mapPriority, mapStatus } from '../../services/mapper/record.mapping.ts';
import type { MappingRules } from '../../services/mapper/rules.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { join } from 'node:path';
import { openLedger } from '../../services/ledger/clickhouse-ledger.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

async function tickets(c: Connector): Promise<Map<string, Ticket>> {
  const out = new Map<string, Ticket>();
  for await (const page of c.read('ticket', null, { overlapSeconds: 0 })) for (const e of page.records) if (e.op === 'upsert') out.set(e.sourceId, e.record);
  return out;
}

describe('re-migration after a mapping change (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  let source: Connector;
  let target: Connector;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 40, seed: 11, articles: 2, unthrottled: '40 tickets with up to 30 comments each, migrated again and again are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '40 tickets with up to 30 comments each, migrated again and again are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    source = (await platform('zendesk')).createConnector({ url: m.source.url, credentials: m.source.credentials });
    target = (await platform('freshdesk')).createConnector({ url: m.target.url, credentials: m.target.credentials });
  });
  afterAll(async () => {
    await Promise.allSettled([source?.close(), target?.close()]);
    await m?.close();
  });

  it('updates the records already migrated instead of duplicating them', async () => {
    const first = captureOutput();
    expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, verify: false }, first, m.env)).toBe(0);
    const sourceTickets = [...(await tickets(source)).values()];
    const base: MappingRules = { capabilities: FRESHDESK_CAPABILITIES, skipAttachments: false, statusMap: {}, priorityMap: {}, typeMap: {} };
    const rules: MappingRules = { ...base, statusMap: { open: 'pending' }, priorityMap: { low: 'urgent' } };
    const mapped = (t: Ticket, r: MappingRules) => ({ status: mapStatus(t.status, r), priority: mapPriority(t.priority, r) });
    const changed = sourceTickets.filter((t) => JSON.stringify(mapped(t, base)) !== JSON.stringify(mapped(t, rules))).length;
    expect(sourceTickets.filter((t) => t.status === 'open').length).toBeGreaterThan(0);
    expect(sourceTickets.filter((t) => t.priority === 'low').length).toBeGreaterThan(0);
    const before = await tickets(target);
    expect(before.size).toBe(40);

    // The user changes the mapping in the migration file and runs the migration again.
    const remapped = parseMigrationConfig({ ...m.config, options: { statusMap: { open: 'pending' }, priorityMap: { low: 'urgent' } } });
    const again = captureOutput();
    expect(await migrateCommand(remapped, { json: true, progress: false, restart: true }, again, m.env)).toBe(0);
    const result = JSON.parse(again.stdout.join('\n'));
    expect(result.counts.ticket.created).toBe(0);
    expect(result.counts.ticket.updated).toBe(changed);
    expect(result.counts.ticket.unchanged).toBe(40 - changed);
    expect(result.clean, JSON.stringify(result.issues)).toBe(true);

    const after = await tickets(target);
    expect(after.size).toBe(40);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const ledger = await openLedger({ migration: String(m.config.name), path: join(String(m.config.stateDir), 'ledger') });
    const targetIds = await ledger.lookupIds('ticket', sourceTickets.map((t) => t.sourceId)).finally(() => ledger.close());
    for (const t of sourceTickets) {
      const onTarget = after.get(targetIds.get(t.sourceId)!.targetId);
      expect(onTarget, t.sourceId).toBeDefined();
      // Freshdesk creates a ticket without a priority as Low (a limitation its connector declares).
      const want = mapped(t, rules);
      expect({ status: onTarget!.status, priority: onTarget!.priority }, t.sourceId).toEqual({ ...want, priority: want.priority ?? 'low' });
    }

    // And back: the original mapping restores the original values, still without duplicates.
    const back = captureOutput();
    expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, restart: true, verify: false }, back, m.env)).toBe(0);
    const restored = JSON.parse(back.stdout.join('\n'));
    expect(restored.counts.ticket.updated).toBe(changed);
    expect(restored.counts.ticket.created).toBe(0);
    const final = await tickets(target);
    expect(final.size).toBe(40);
    for (const [id, t] of before) expect({ status: final.get(id)!.status, priority: final.get(id)!.priority }).toEqual({ status: t.status, priority: t.priority });

    const verify = captureOutput();
    expect(await verifyCommand(parseMigrationConfig(m.config), { json: true }, verify, m.env)).toBe(0);
  }, 120_000);
});
