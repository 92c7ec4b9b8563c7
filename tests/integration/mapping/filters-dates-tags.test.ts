import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';
import { openRuntime } from '../../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

describe('tag and date-range filters over real sandboxes (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  let tickets: Ticket[];
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 80, seed: 34, articles: 1, maxComments: 1, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
    tickets = (await readAll(rt.source, 'ticket')).map((e) => e.record as Ticket);
    await rt.close();
  });
  afterAll(async () => m?.close());

  it('moves exactly the tickets with one of the tags, created before and updated within the range', async () => {
    const created = tickets.map((t) => t.createdAt).sort();
    const updated = tickets.map((t) => t.updatedAt).sort();
    const filters = {
      tags: ['refund', 'bug', 'login', 'invoice'],
      createdTo: created[70],
      updatedFrom: updated[10],
      updatedTo: updated[75],
    };
    const keeps = (t: Ticket) =>
      t.tags.some((x) => filters.tags.includes(x)) && t.createdAt < filters.createdTo && t.updatedAt >= filters.updatedFrom && t.updatedAt < filters.updatedTo;
    const expected = tickets.filter(keeps);
    expect(expected.length).toBeGreaterThan(3);
    // Each filter, alone, would have kept a ticket the others left behind.
    expect(tickets.some((t) => !t.tags.some((x) => filters.tags.includes(x)))).toBe(true);
    expect(tickets.some((t) => t.createdAt >= filters.createdTo)).toBe(true);

    const config = parseMigrationConfig({ ...m.config, entities: ['group', 'agent', 'organization', 'contact', 'ticketField', 'ticket'], filters });
    const out = captureOutput();
    const code = await migrateCommand(config, { json: true, progress: false }, out, m.env);
    const result = JSON.parse(out.stdout.join('\n'));
    expect(result.clean, JSON.stringify(result.issues)).toBe(true);
    expect(code).toBe(0);
    expect(result.counts.ticket.created).toBe(expected.length);
    expect(m.target.counts().ticket).toBe(expected.length);
    expect(result.entities.ticket).toMatchObject({ source: tickets.length, loaded: expected.length, filtered: tickets.length - expected.length, missing: 0 });

    const rt = await openRuntime(config, m.env);
    try {
      const rules = new Map<string, string>();
      for await (const o of rt.ledger.latestOutcomes('ticket')) rules.set(o.sourceId, o.rule);
      const seen = new Set<string>();
      for (const t of tickets) {
        if (keeps(t)) continue;
        const rule = rules.get(t.sourceId)!;
        seen.add(rule);
        if (rule === 'filter:tags') expect(t.tags.some((x) => filters.tags.includes(x))).toBe(false);
        else if (rule === 'filter:createdTo') expect(t.createdAt >= filters.createdTo).toBe(true);
        else if (rule === 'filter:updatedFrom') expect(t.updatedAt < filters.updatedFrom).toBe(true);
        else if (rule === 'filter:updatedTo') expect(t.updatedAt >= filters.updatedTo).toBe(true);
        else throw new Error(`ticket ${t.sourceId} filtered by unexpected rule ${rule}`);
      }
      expect(seen.has('filter:tags')).toBe(true);
      expect(seen.size).toBeGreaterThanOrEqual(2);
    } finally {
      await rt.close();
    }
  });
});
