import { describe, expect, it } from 'vitest';
import { fakeHelpdesk } from '../../../../connectors/sdk/fake-helpdesk.ts';
import { mapRecord } from '../../../../services/mapper/record.mapping.ts';
import { ORIGINAL_CREATED_DEFINITION, targetFieldDefinitions } from '../../../../services/mapper/wizard.mapping.ts';
import { rulesFromConfig, type MappingRules } from '../../../../services/mapper/rules.ts';
import { FRESHDESK_CAPABILITIES } from '../../../../connectors/freshdesk/freshdesk.writer.ts';
import { ZENDESK_CAPABILITIES } from '../../../../connectors/zendesk/zendesk.writer.ts';
import { parseMigrationConfig } from '../../../../schemas/config.ts';
import type { Ticket } from '../../../../schemas/canonical.ts';

const config = (options: Record<string, unknown> = {}) =>
  parseMigrationConfig({ name: 'm', source: { platform: 'zendesk', url: 'https://a.zendesk.com' }, target: { platform: 'freshdesk', url: 'https://b.freshdesk.com' }, options });
const h = fakeHelpdesk({ seed: 5, tickets: 10 });
const ticket: Ticket = {
  ...h.ticket(0),
  createdAt: '2023-11-30T23:59:58.123Z',
  comments: [
    { sourceId: 'c1', authorId: '381', body: '<p>Hello</p>', public: true, createdAt: '2023-11-30T23:59:58.123Z', attachments: [] },
    { sourceId: 'c2', authorId: null, body: '<p>Bye</p>', public: false, createdAt: '2023-12-01T08:00:00.000Z', attachments: [] },
  ],
};
const planned = (rules: MappingRules) => {
  const result = mapRecord('ticket', ticket, rules);
  if (result.kind !== 'planned') throw new Error('filtered');
  return result.record;
};

describe('originals kept visibly (options.originals)', () => {
  it('on a target that sets its own times: a header line on each body and the original date in original_created_at', () => {
    const record = planned(rulesFromConfig(config(), FRESHDESK_CAPABILITIES));
    expect(record.comments.map((c) => c.body)).toEqual([
      '<p>Originally written by zendesk user 381 on 2023-11-30T23:59:58Z</p><p>Hello</p>',
      '<p>Originally written by an unknown zendesk user on 2023-12-01T08:00:00Z</p><p>Bye</p>',
    ]);
    expect(record.customFields.original_created_at).toBe('2023-11-30');
    expect(targetFieldDefinitions([], rulesFromConfig(config(), FRESHDESK_CAPABILITIES))).toEqual([ORIGINAL_CREATED_DEFINITION]);
  });

  it('takes a header format, escaped as text', () => {
    const record = planned(rulesFromConfig(config({ originals: { headerFormat: '<{time}> by {author}' } }), FRESHDESK_CAPABILITIES));
    expect(record.comments[0].body).toBe('<p>&lt;2023-11-30T23:59:58Z&gt; by zendesk user 381</p><p>Hello</p>');
  });

  it('switched off, or on a target that keeps real times (Zendesk), leaves bodies and fields as they were', () => {
    for (const rules of [rulesFromConfig(config({ originals: { header: false, field: false } }), FRESHDESK_CAPABILITIES), rulesFromConfig(config(), ZENDESK_CAPABILITIES)]) {
      const record = planned(rules);
      expect(record.comments.map((c) => c.body)).toEqual(['<p>Hello</p>', '<p>Bye</p>']);
      expect(record.customFields).not.toHaveProperty('original_created_at');
      expect(targetFieldDefinitions([], rules)).toEqual([]);
    }
  });

  it('refuses a header format without {time}, naming the path', () => {
    expect(() => config({ originals: { headerFormat: 'migrated' } })).toThrow(/options\.originals\.headerFormat/);
  });
});
