import { describe, expect, it } from 'vitest';
import type { ZendeskConnector } from '../../../connectors/zendesk/index.ts';
import type { Contact, Group, Organization, TicketField } from '../../../schemas/canonical.ts';
import { ORIGINAL_CREATED_DEFINITION } from '../../../services/mapper/wizard.mapping.ts';
import { connect, sandbox } from './helpers.ts';
import { twoLoadersOn, writeContext } from '../../helpers/two-loaders.ts';

const context = writeContext('');

const fields: TicketField[] = [
  ORIGINAL_CREATED_DEFINITION,
  {
    ...ORIGINAL_CREATED_DEFINITION,
    sourceId: 'race_tier',
    key: 'race_tier',
    title: 'Support tier',
    type: 'dropdown',
    options: [
      { value: 'gold', label: 'Gold' },
      { value: 'silver', label: 'Silver' },
    ],
  },
];

/**
 * Every loader process prepares the target (cluster mode) and may create the same ticket field at the
 * same moment. Zendesk's ticket fields have no unique name (API reference, Ticket Fields › JSON format:
 * `title` is a plain string; `key` belongs to user and organization fields), so both copies would stay.
 */
describe('zendesk writer: the same ticket field prepared by two loaders at once', () => {
  const race = twoLoadersOn(() => sandbox({ tickets: 0, seed: 21 }), connect);

  const listed = async () => {
    const auth = Buffer.from(`${race.target.credentials.email}/token:${race.target.credentials.apiToken}`).toString('base64');
    const res = await fetch(`${race.target.url}/api/v2/ticket_fields.json`, { headers: { authorization: `Basic ${auth}` } });
    return ((await res.json()) as { ticket_fields: { id: number; title: string }[] }).ticket_fields;
  };

  it('keeps one field per key and both loaders find the same one', async () => {
    await Promise.all([race.a.prepare!({ ticketFields: fields }), race.b.prepare!({ ticketFields: fields })]);
    const all = await listed();
    for (const f of fields) {
      expect(all.filter((x) => x.title === f.title).map((x) => x.id), f.title).toHaveLength(1);
      // As the loader does: find, else create (which adopts the field this writer's prepare() kept).
      const load = async (c: ZendeskConnector) => (await c.find('ticketField', f, '')) ?? (await c.create('ticketField', f, context));
      const [ra, rb] = await Promise.all([load(race.a), load(race.b)]);
      expect(ra.targetId).toBe(String(all.find((x) => x.title === f.title)!.id));
      expect(rb.targetId).toBe(ra.targetId);
    }
    expect((await listed()).filter((x) => fields.some((f) => f.title === x.title))).toHaveLength(fields.length);
  });
});

/**
 * Two source records that name the same target record (two groups or organizations with one name, two
 * contacts with one email) land on different partitions, so two loaders may create them at once. Zendesk
 * refuses the second with 422 DuplicateValue (API reference, Organizations › JSON format: `name` is "a
 * unique name"; the sandbox refuses a second group name and a second user email the same way). One loader
 * alone would have found the first by name or email, and the racer must end the same way.
 */
describe('zendesk writer: two source records that match one target record, created at once', () => {
  const race = twoLoadersOn(() => sandbox({ tickets: 0, seed: 22 }), connect);
  const at = '2024-01-01T00:00:00.000Z';
  const ctx = writeContext;

  it('a group, an organization and a contact: both loaders get the one Zendesk keeps', async () => {
    const group = (sourceId: string): Group => ({ sourceId, name: 'Escalations', description: null, createdAt: at, updatedAt: at });
    const org = (sourceId: string): Organization => ({ sourceId, name: 'Acme Race', domains: [], tags: [], customFields: {}, notes: null, createdAt: at, updatedAt: at });
    const contact = (sourceId: string): Contact => ({ sourceId, name: 'Pat Race', email: 'pat.race@example.org', phone: null, organizationId: null, tags: [], timeZone: null, customFields: {}, createdAt: at, updatedAt: at });
    const pairs = await Promise.all([
      Promise.all([race.a.create('group', group('1'), ctx('zendesk:1')), race.b.create('group', group('2'), ctx('zendesk:2'))]),
      Promise.all([race.a.create('organization', org('3'), ctx('zendesk:3')), race.b.create('organization', org('4'), ctx('zendesk:4'))]),
      Promise.all([race.a.create('contact', contact('5'), ctx('zendesk:5')), race.b.create('contact', contact('6'), ctx('zendesk:6'))]),
    ]);
    for (const [ra, rb] of pairs) expect(rb.targetId).toBe(ra.targetId);
  });
});
