import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';
import { openRuntime } from '../../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import type { Ticket, TicketField } from '../../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

const records = <T>(envelopes: { op: string; record: unknown }[]) => envelopes.flatMap((e) => (e.op === 'upsert' ? [e.record as T] : []));

describe('ID list, date and status filters, inline images as attachments (zendesk → zendesk)', () => {
  let m: MigrationEnv;
  let tickets: Ticket[];
  let env: NodeJS.ProcessEnv;
  let base: Record<string, unknown>;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'zendesk', { tickets: 50, seed: 33, articles: 3, maxComments: 6, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    // Both sides are Zendesk: each reads its sandbox's credentials from its own variables.
    env = { ...process.env };
    const side = (name: string, credentials: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(credentials).map(([key, value]) => {
          env[`HDM_${name}_${key.toUpperCase()}`] = value;
          return [key, { env: `HDM_${name}_${key.toUpperCase()}` }];
        }),
      );
    base = {
      ...m.config,
      source: { ...(m.config.source as object), credentials: side('SOURCE', m.source.credentials) },
      target: { ...(m.config.target as object), credentials: side('TARGET', m.target.credentials) },
    };
    const rt = await openRuntime(parseMigrationConfig(base), env);
    tickets = records<Ticket>(await readAll(rt.source, 'ticket'));
    await rt.close();
  });
  afterAll(async () => m?.close());

  it('fails before any request to the target when an ID in filters.ticketIds is not at the source', async () => {
    const before = m.target.requestsServed();
    const config = parseMigrationConfig({ ...base, filters: { ticketIds: [tickets[0].sourceId, 987654] } });
    const err = await migrateCommand(config, { json: true, progress: false }, captureOutput(), env).catch((e) => e);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('filters.ticketIds: the source (zendesk) has no ticket 987654');
    expect(m.target.requestsServed()).toBe(before);
  });

  it('moves only the listed tickets that also pass the date and status filters, each inline image as an ordinary attachment', async () => {
    const withInline = tickets.filter((t) => t.comments.some((c) => c.attachments.some((a) => a.inline)));
    expect(withInline.length).toBeGreaterThan(0);
    const listed = [...new Set([...withInline.map((t) => t.sourceId), ...tickets.slice(0, 12).map((t) => t.sourceId)])];
    const createdTimes = tickets.map((t) => t.createdAt).sort();
    const createdFrom = createdTimes[5];
    const statuses = ['open', 'pending', 'hold', 'solved', 'new'] as const;
    const config = parseMigrationConfig({
      ...base,
      options: { inlineImagesAsAttachments: true },
      filters: { ticketIds: listed, createdFrom, statuses: [...statuses] },
    });
    const out = captureOutput();
    const code = await migrateCommand(config, { json: true, progress: false }, out, env);
    const result = JSON.parse(out.stdout.join('\n'));
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);

    const expected = tickets.filter((t) => listed.includes(t.sourceId) && t.createdAt >= createdFrom && (statuses as readonly string[]).includes(t.status));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(listed.length);
    expect(result.counts.ticket.created).toBe(expected.length);
    expect(result.counts.ticket.filtered).toBe(tickets.length - expected.length);

    const rt = await openRuntime(config, env);
    try {
      const rules = new Map<string, string>();
      for await (const o of rt.ledger.latestOutcomes('ticket')) rules.set(o.sourceId, o.rule);
      for (const t of tickets) {
        if (!listed.includes(t.sourceId)) expect(rules.get(t.sourceId)).toBe('filter:ticketIds');
        else if (t.createdAt < createdFrom) expect(rules.get(t.sourceId)).toBe('filter:createdFrom');
        else if (!(statuses as readonly string[]).includes(t.status)) expect(rules.get(t.sourceId)).toBe('filter:statuses');
      }
      // Every custom field was created on the target with its own type, options and pattern.
      const sourceFields = records<TicketField>(await readAll(rt.source, 'ticketField'));
      const targetFields = records<TicketField>(await readAll(rt.target, 'ticketField'));
      expect(new Set(sourceFields.map((f) => f.type)).size).toBe(9);
      for (const f of sourceFields) {
        const created = targetFields.find((t) => t.key === f.key);
        expect(created, f.key).toMatchObject({ type: f.type, title: f.title, pattern: f.pattern });
        expect(created!.options.map((o) => o.label), f.key).toEqual(f.options.map((o) => o.label));
      }
      expect(result.mapping.fields.every((f: { action: string; fallback: string | null }) => f.action === 'create' && f.fallback === null)).toBe(true);
      const ids = await rt.ledger.lookupIds('ticket', expected.map((t) => t.sourceId));
      let images = 0;
      for (const t of expected) {
        const onTarget = (await rt.target.get('ticket', ids.get(t.sourceId)!.targetId)) as Ticket;
        const sourceFiles = t.comments.flatMap((c) => c.attachments.map((a) => a.fileName)).sort();
        expect(onTarget.comments.flatMap((c) => c.attachments.map((a) => a.fileName)).sort()).toEqual(sourceFiles);
        for (const c of onTarget.comments) {
          expect(c.attachments.every((a) => !a.inline)).toBe(true);
          images += (c.body.match(/\[image: /g) ?? []).length;
        }
      }
      expect(images).toBeGreaterThan(0);
    } finally {
      await rt.close();
    }
  });
});
