import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../../connectors/sdk/fake-helpdesk.ts';
import { mapRecord } from '../../../../services/mapper/record.mapping.ts';
import { rulesFromConfig } from '../../../../services/mapper/rules.ts';
import { targetFieldDefinitions } from '../../../../services/mapper/wizard.mapping.ts';
import { ENTITIES, TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES, type Ticket } from '../../../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../../../schemas/config.ts';

const capabilities = { ticketStatuses: TICKET_STATUSES, ticketPriorities: TICKET_PRIORITIES, ticketTypes: TICKET_TYPES, entities: ENTITIES };
const base = { name: 'u', source: { platform: 'zendesk', url: 'https://a.example.com' }, target: { platform: 'freshdesk', url: 'https://b.example.com' } };
const rules = (extra: Record<string, unknown>) => rulesFromConfig(parseMigrationConfig({ ...base, ...extra }), capabilities);
const h = fakeHelpdesk({ seed: 5, tickets: 60 });
const tickets = [...h.tickets()];
const planned = (t: Ticket, r: ReturnType<typeof rules>) => {
  const out = mapRecord('ticket', t, r);
  if (out.kind !== 'planned') throw new Error(`ticket ${t.sourceId} filtered by ${out.rule}`);
  return out.record;
};

describe('wizard mapping rules', () => {
  it('renames, drops and value-maps custom fields, fills defaults and adds the tag', () => {
    const r = rules({
      mapping: { fields: { seats: null, order_number: 'order_ref' }, values: { product: { Basic: 'Starter' }, channels: { Chat: 'Messaging' } }, defaults: { region: 'EU' } },
      options: { addTag: 'migrated' },
    });
    for (const t of tickets) {
      const p = planned(t, r);
      expect(p.customFields).not.toHaveProperty('seats');
      expect(p.customFields.order_ref ?? null).toEqual(t.customFields.order_number ?? null);
      expect(p.customFields).not.toHaveProperty('order_number');
      if (t.customFields.product === 'Basic') expect(p.customFields.product).toBe('Starter');
      else expect(p.customFields.product ?? null).toEqual(t.customFields.product ?? null);
      if (Array.isArray(t.customFields.channels)) expect(p.customFields.channels).toEqual(t.customFields.channels.map((c) => (c === 'Chat' ? 'Messaging' : c)));
      expect(p.customFields.region).toBe('EU');
      expect(p.tags.filter((x) => x === 'migrated')).toHaveLength(1);
    }
    expect(tickets.some((t) => t.customFields.product === 'Basic')).toBe(true);
    const field = mapRecord('ticketField', h.ticketFields.find((f) => f.key === 'product')!, r);
    expect(field.kind === 'planned' && field.record.options.map((o) => o.label)).toEqual(['Starter', 'Pro', 'Enterprise']);
    expect(mapRecord('ticketField', h.ticketFields.find((f) => f.key === 'seats')!, r)).toEqual({ kind: 'filtered', rule: 'mapping.fields:left-behind' });
    expect(targetFieldDefinitions(h.ticketFields, r).map((f) => f.key)).toContain('order_ref');
  });

  it('keeps a value the ticket has over the default', () => {
    const r = rules({ mapping: { defaults: { product: 'Pro' } } });
    for (const t of tickets) expect(planned(t, r).customFields.product).toBe(t.customFields.product ?? 'Pro');
  });

  it('applies each filter and names it as the rule', () => {
    const sorted = [...tickets].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const mid = sorted[30].createdAt;
    const cases: [Record<string, unknown>, (t: Ticket) => boolean, string][] = [
      [{ createdFrom: mid }, (t) => t.createdAt >= mid, 'filter:createdFrom'],
      [{ createdTo: mid }, (t) => t.createdAt < mid, 'filter:createdTo'],
      [{ updatedFrom: mid }, (t) => t.updatedAt >= mid, 'filter:updatedFrom'],
      [{ updatedTo: mid }, (t) => t.updatedAt < mid, 'filter:updatedTo'],
      [{ tags: ['refund', 'bug'] }, (t) => t.tags.includes('refund') || t.tags.includes('bug'), 'filter:tags'],
      [{ excludeTags: ['vip'] }, (t) => !t.tags.includes('vip'), 'filter:excludeTags'],
      [{ statuses: ['open', 'pending'] }, (t) => t.status === 'open' || t.status === 'pending', 'filter:statuses'],
      [{ ticketIds: [3, '7'] }, (t) => t.sourceId === '3' || t.sourceId === '7', 'filter:ticketIds'],
    ];
    for (const [filters, keep, rule] of cases) {
      const r = rules({ filters });
      let kept = 0;
      for (const t of tickets) {
        const out = mapRecord('ticket', t, r);
        expect(out.kind, `${rule} ticket ${t.sourceId}`).toBe(keep(t) ? 'planned' : 'filtered');
        if (out.kind === 'filtered') expect(out.rule).toBe(rule);
        else kept += 1;
      }
      expect(kept, rule).toBeGreaterThan(0);
      expect(kept, rule).toBeLessThan(tickets.length);
    }
  });

  it('skips the knowledge base, filters articles by ID, and maps groups by name', () => {
    const skip = rules({ options: { skipKb: true } });
    expect(mapRecord('kbArticle', h.kbArticles[0], skip)).toEqual({ kind: 'filtered', rule: 'option:skipKb' });
    expect(mapRecord('kbCategory', h.kbCategories[0], skip)).toEqual({ kind: 'filtered', rule: 'option:skipKb' });
    const ids = rules({ filters: { articleIds: [h.kbArticles[1].sourceId] } });
    expect(mapRecord('kbArticle', h.kbArticles[1], ids).kind).toBe('planned');
    expect(mapRecord('kbArticle', h.kbArticles[0], ids)).toEqual({ kind: 'filtered', rule: 'filter:articleIds' });
    const groups = rules({ mapping: { groups: { Billing: 'Finance', Sales: null } } });
    const billing = mapRecord('group', h.groups.find((g) => g.name === 'Billing')!, groups);
    expect(billing.kind === 'planned' && billing.record.name).toBe('Finance');
    expect(mapRecord('group', h.groups.find((g) => g.name === 'Sales')!, groups).kind).toBe('filtered');
  });

  it('turns inline images into attachments and notes where they were', () => {
    const withInline = tickets.find((t) => t.comments.some((c) => c.attachments.some((a) => a.inline)))!;
    expect(withInline).toBeDefined();
    const p = planned(withInline, rules({ options: { inlineImagesAsAttachments: true } }));
    for (const c of p.comments) {
      expect(c.attachments.every((a) => !a.inline)).toBe(true);
      expect(c.body).not.toMatch(/src="inline:/);
    }
    const original = withInline.comments.find((c) => c.attachments.some((a) => a.inline))!;
    const image = original.attachments.find((a) => a.inline)!;
    expect(p.comments.find((c) => c.sourceId === original.sourceId)!.body).toContain(`[image: ${image.fileName}]`);
  });

  it('rejects malformed mapping sections, naming the path', () => {
    expect(() => parseMigrationConfig({ ...base, filters: { createdFrom: 'yesterday' } })).toThrow(/filters\.createdFrom/);
    expect(() => parseMigrationConfig({ ...base, options: { addTag: 'two tags' } })).toThrow(/options\.addTag/);
    expect(() => parseMigrationConfig({ ...base, mapping: { fieldz: {} } })).toThrow(/mapping/);
  });
});
