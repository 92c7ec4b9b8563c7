import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import { STAMP_FIELD } from '../../../connectors/freshdesk/freshdesk.mapping.ts';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import { connect, sandbox } from './helpers.ts';

/**
 * Every loader process prepares the target (cluster mode): two that start at once both find the
 * source-ID stamp field missing and create it, and both add the ticket types Freshdesk lacks. The
 * target must end with one stamp field (not a `cf_hdm_source_id_NNNN` copy) and each type once.
 */
describe('freshdesk writer: prepare() run by two loaders at once', () => {
  let target: FreshdeskSandbox;
  let a: Connector;
  let b: Connector;

  beforeAll(async () => {
    target = await sandbox({ tickets: 0, seed: 6 });
    a = connect(target);
    b = connect(target);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await target?.close();
  });

  const adminFields = async () => {
    const res = await fetch(`${target.url}/api/v2/admin/ticket_fields`, { headers: { authorization: `Basic ${Buffer.from(`${target.credentials.apiKey}:X`).toString('base64')}` } });
    return (await res.json()) as { id: number; name: string; default?: boolean; choices?: unknown }[];
  };

  it('keeps one stamp field and one choice per ticket type', async () => {
    await Promise.all([a.prepare!({ ticketFields: [] }), b.prepare!({ ticketFields: [] })]);
    const fields = await adminFields();
    expect(fields.filter((f) => f.name.startsWith(STAMP_FIELD)).map((f) => f.name)).toEqual([STAMP_FIELD]);
    const type = fields.find((f) => f.name === 'ticket_type')!;
    const labels = (type.choices as { value?: string; label?: string }[]).map((c) => (c.value ?? c.label ?? '').toLowerCase());
    expect(labels.length).toBe(new Set(labels).size);
  });
});
