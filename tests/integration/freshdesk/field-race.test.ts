import { describe, expect, it } from 'vitest';
import { STAMP_FIELD } from '../../../connectors/freshdesk/freshdesk.mapping.ts';
import type { TicketField } from '../../../schemas/canonical.ts';
import { ORIGINAL_CREATED_DEFINITION } from '../../../services/mapper/wizard.mapping.ts';
import { connect, sandbox } from './helpers.ts';
import { twoLoadersOn, writeContext } from '../../helpers/two-loaders.ts';

const context = (sourceId: string) => writeContext(`race:${sourceId}`);

const labels: TicketField = {
  ...ORIGINAL_CREATED_DEFINITION,
  sourceId: 'labels',
  key: 'labels',
  title: 'Labels',
  type: 'multiselect',
  options: [
    { value: 'a', label: 'Alpha' },
    { value: 'b', label: 'Beta' },
  ],
};

/**
 * Two loader processes that both find a field missing create it at the same moment (in cluster mode,
 * every loader prepares the target, and ensures the `original_created_at` field the engine adds).
 * Freshdesk gives the second copy a suffixed name; the target must still end with one field, and both
 * loaders use it.
 */
describe('freshdesk writer: the same field created by two loaders at once', () => {
  const race = twoLoadersOn(() => sandbox({ tickets: 0, seed: 5 }), connect);

  const adminFields = async () => {
    const res = await fetch(`${race.target.url}/api/v2/admin/ticket_fields`, { headers: { authorization: `Basic ${Buffer.from(`${race.target.credentials.apiKey}:X`).toString('base64')}` } });
    return (await res.json()) as { id: number; name: string; choices?: unknown[] }[];
  };

  it('prepare() at once keeps one stamp field and one choice per ticket type', async () => {
    await Promise.all([race.a.prepare!({ ticketFields: [] }), race.b.prepare!({ ticketFields: [] })]);
    const fields = await adminFields();
    expect(fields.filter((f) => f.name.startsWith(STAMP_FIELD)).map((f) => f.name)).toEqual([STAMP_FIELD]);
    const type = fields.find((f) => f.name === 'ticket_type')!;
    const labels = (type.choices as { value?: string; label?: string }[]).map((c) => (c.value ?? c.label ?? '').toLowerCase());
    expect(labels.length).toBe(new Set(labels).size);
  });

  it('keeps one field per name and hands both loaders its ID', async () => {
    for (const def of [ORIGINAL_CREATED_DEFINITION, labels]) {
      const [ra, rb] = await Promise.all([race.a.create('ticketField', def, context(def.sourceId)), race.b.create('ticketField', def, context(def.sourceId))]);
      expect(ra.targetId).toBe(rb.targetId);
    }
    const names = (await adminFields()).map((f) => f.name).filter((n) => /original_created_at|labels/.test(n));
    // The date field, the multi-select and the hidden field that holds its chosen labels: once each.
    expect(names.sort()).toHaveLength(3);
    expect(names.some((n) => /_\d+$/.test(n)), names.join(', ')).toBe(false);
    expect(names.filter((n) => n.startsWith('cf_original_created_at'))).toHaveLength(1);
  });
});
