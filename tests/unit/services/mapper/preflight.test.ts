import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../../connectors/sdk/fake-helpdesk.ts';
import { validateMapping } from '../../../../services/mapper/preflight.ts';
import type { PlatformSchema } from '../../../../services/mapper/platform-schema.ts';
import { ENTITIES, type TicketField } from '../../../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../../../schemas/config.ts';

const h = fakeHelpdesk({ seed: 3, tickets: 1 });
const source: PlatformSchema = {
  platform: 'zendesk',
  ticketFields: h.ticketFields,
  groups: h.groups,
  agents: h.agents,
  capabilities: { ticketStatuses: ['new', 'open', 'pending', 'hold', 'solved', 'closed'], ticketPriorities: ['low', 'normal', 'high', 'urgent'], ticketTypes: ['question', 'incident', 'problem', 'task'], entities: ENTITIES },
};
const field = (key: string, type: TicketField['type'], extra: Partial<TicketField> = {}): TicketField => ({
  sourceId: key, key, title: key, type, required: false, active: true, options: [], pattern: null, createdAt: '', updatedAt: '', ...extra,
});
const target: PlatformSchema = {
  platform: 'freshdesk',
  ticketFields: [
    field('region', 'dropdown', { required: true, options: [{ value: 'EU', label: 'EU' }, { value: 'US', label: 'US' }] }),
    field('vip', 'checkbox'),
    field('budget', 'decimal'),
    field('due', 'date'),
    field('ref', 'regex', { pattern: '^R-\\d+$' }),
    field('note', 'text'),
    field('labels', 'multiselect', { options: [{ value: 'a', label: 'A' }] }),
    field('ordinal', 'integer'),
  ],
  groups: [{ sourceId: '1', name: 'Finance', description: null, createdAt: '', updatedAt: '' }],
  agents: [{ ...h.agents[0], email: 'lead@target.example' }],
  capabilities: { ticketStatuses: ['open', 'pending', 'solved', 'closed'], ticketPriorities: ['low', 'normal', 'high', 'urgent'], ticketTypes: ['question', 'incident', 'problem'], entities: ENTITIES, fieldTypeFallbacks: { regex: 'a text field' } },
};
const config = (extra: Record<string, unknown>) =>
  parseMigrationConfig({ name: 'p', source: { platform: 'zendesk', url: 'https://a.example.com' }, target: { platform: 'freshdesk', url: 'https://b.example.com' }, ...extra });

describe('mapping preflight', () => {
  it('accepts defaults that fit their field, and plans every source field', () => {
    const { problems, report } = validateMapping(
      config({ mapping: { defaults: { region: 'EU', vip: false, budget: 1.5, due: '2024-02-29', ref: 'R-12', note: 'x', labels: ['A'], ordinal: 3 }, fields: { order_number: 'note' } }, options: { defaultAgentEmail: 'lead@target.example' } }),
      source,
      target,
    );
    expect(problems).toEqual([]);
    expect(report.fields.find((f) => f.sourceKey === 'order_number')).toMatchObject({ targetKey: 'note', action: 'exists' });
    expect(report.fields.find((f) => f.sourceKey === 'serial')).toMatchObject({ action: 'create', targetType: 'regex', fallback: 'a text field' });
    expect(report.warnings).toEqual([]);
    expect(report.reassigned.map((a) => a.reason).sort()).toEqual(['deactivated', 'deactivated', 'deleted']);
  });

  it('names every default that does not fit its field type', () => {
    const { problems } = validateMapping(
      config({ mapping: { defaults: { region: 'Mars', vip: 'yes', budget: 'much', due: '29.02.2024', ref: 'X-1', note: 3, labels: ['B'], ordinal: 1.5 } } }),
      source,
      target,
    );
    for (const key of ['region', 'vip', 'budget', 'due', 'ref', 'note', 'labels', 'ordinal']) expect(problems.join('\n')).toContain(`mapping.defaults.${key}:`);
    expect(problems).toHaveLength(8);
  });

  it('rejects mapping a field onto one of another kind, and warns about a required field nothing feeds', () => {
    const { problems, report } = validateMapping(config({ mapping: { fields: { product: 'vip', seats: 'budget' } } }), source, target);
    expect(problems).toEqual([expect.stringContaining('mapping.fields.product: source field "product" is dropdown but target field "vip" is checkbox')]);
    expect(report.warnings).toEqual([expect.stringContaining('target field "region" (region) is required')]);
  });
});
