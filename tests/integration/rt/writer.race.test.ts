import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rt } from '../../../connectors/rt/index.ts';
import { RT_INTERNAL_FIELDS, RT_TYPE_FIELD } from '../../../connectors/rt/rt.mapping.ts';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import { TICKET_TYPES, type Agent, type Contact, type Group, type Ticket, type TicketField } from '../../../schemas/canonical.ts';
import { ORIGINAL_CREATED_DEFINITION } from '../../../services/mapper/wizard.mapping.ts';
import { writeContext } from './helpers.ts';

/**
 * Two loader processes (cluster mode) each build their own writer and may create the same thing at the
 * same moment against a real RT 5. RT accepts any number of custom fields with one name, so both would
 * stay; it refuses a second queue or user with a name, which would fail the slower loader's record.
 * Either way the target must end with one object, and both writers must hand back its ID.
 */
let sb: RunningSandbox;
let a: Connector;
let b: Connector;

const product: TicketField = {
  ...ORIGINAL_CREATED_DEFINITION,
  sourceId: '7',
  key: 'product',
  title: 'Product',
  type: 'dropdown',
  options: [
    { value: 'basic', label: 'Basic' },
    { value: 'pro', label: 'Pro' },
  ],
};
const retired: TicketField = { ...ORIGINAL_CREATED_DEFINITION, sourceId: '9', key: 'retired_code', title: 'Retired code', type: 'text', active: false };
const fields = [ORIGINAL_CREATED_DEFINITION, product, retired];

interface Cf {
  id: string;
  Name: string;
  Description?: string;
  Disabled?: string | number;
}

async function allFields(): Promise<Cf[]> {
  const res = await fetch(`${sb.url}/REST/2.0/customfields?find_disabled_rows=1&per_page=100&fields=Name,Description,Disabled`, {
    method: 'POST',
    headers: { authorization: `token ${(sb.credentials as { token: string }).token}`, 'content-type': 'application/json' },
    body: JSON.stringify([{ field: 'LookupType', value: 'RT::Queue-RT::Ticket' }]),
  });
  return ((await res.json()) as { items: Cf[] }).items;
}

const enabled = (cf: Cf) => String(cf.Disabled ?? '0') === '0';

beforeAll(async () => {
  sb = await rt.startSandbox({ tickets: 0 });
  a = rt.createConnector({ url: sb.url, credentials: sb.credentials });
  b = rt.createConnector({ url: sb.url, credentials: sb.credentials });
  await Promise.all([a.check(), b.check()]);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await sb?.close();
});

describe('rt writer: two loaders create the same thing at once', () => {
  it('ticket fields (the stamp, tags and type fields, and canonical ones): one live field each, the same ID for both, one stamp field', async () => {
    const [pa, pb] = await Promise.all([a.prepare!({ ticketFields: fields }), b.prepare!({ ticketFields: fields })]);
    // Each field counts as created by the run that kept its copy only.
    expect([...pa.createdFields, ...pb.createdFields].sort()).toHaveLength(fields.length);
    const all = await allFields();
    for (const name of RT_INTERNAL_FIELDS) expect(all.filter((cf) => cf.Name === name && enabled(cf)).map((cf) => cf.id), name).toHaveLength(1);
    for (const f of fields) expect(all.filter((cf) => cf.Description?.includes(`hdm:key=${f.key};`)).map((cf) => cf.id), f.key).toHaveLength(1);
    expect(all.filter((cf) => cf.Name === retired.title).map((cf) => enabled(cf))).toEqual([false]);
    for (const f of fields) {
      const [ra, rb] = await Promise.all([a.find('ticketField', f, ''), b.find('ticketField', f, '')]);
      expect(ra, f.key).not.toBeNull();
      expect(rb).toEqual(ra);
    }
    const typeField = all.find((cf) => cf.Name === RT_TYPE_FIELD && enabled(cf))!;
    const values = await fetch(`${sb.url}/REST/2.0/customfield/${typeField.id}/values?per_page=100`, { headers: { authorization: `token ${(sb.credentials as { token: string }).token}` } });
    expect(((await values.json()) as { items: { name: string }[] }).items.map((v) => v.name).sort()).toEqual(TICKET_TYPES.map((t) => t[0].toUpperCase() + t.slice(1)).sort());
    // The losing copies do not read back as fields of their own.
    const read = (await readAll(b, 'ticketField')).flatMap((e) => (e.op === 'upsert' ? [e.record.key] : []));
    expect(read.sort()).toEqual(fields.map((f) => f.key).sort());
    expect(sb.counts().ticketField).toBe(fields.length);
    // A ticket one loader stamped is found by the other: both write the same stamp field.
    const ticket: Ticket = {
      sourceId: '501',
      subject: 'Race',
      status: 'open',
      priority: 'normal',
      type: 'task',
      requesterId: null,
      assigneeId: null,
      groupId: null,
      organizationId: null,
      tags: ['x'],
      customFields: { product: 'Pro' },
      comments: [],
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
    };
    const made = await a.create('ticket', ticket, writeContext('zendesk:501'));
    expect(await b.find('ticket', ticket, 'zendesk:501')).toEqual({ targetId: made.targetId });
  });

  it('a queue: both get the one RT keeps', async () => {
    const group: Group = { sourceId: '31', name: 'Race queue', description: 'd', createdAt: '2024-01-01T00:00:00.000Z', updatedAt: '2024-01-01T00:00:00.000Z' };
    const [ra, rb] = await Promise.all([a.create('group', group, writeContext('zendesk:31')), b.create('group', group, writeContext('zendesk:31'))]);
    expect(ra.targetId).toBe(rb.targetId);
  });

  it('a person written as an agent and as a contact at once: one RT user, privileged', async () => {
    const agent: Agent = {
      sourceId: '41',
      name: 'Dana Race',
      email: 'dana.race@example.org',
      role: 'agent',
      active: true,
      deleted: false,
      groupIds: [],
      timeZone: null,
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
    };
    const contact: Contact = {
      sourceId: '42',
      name: 'Dana Race',
      email: 'dana.race@example.org',
      phone: null,
      organizationId: null,
      tags: [],
      timeZone: null,
      customFields: {},
      createdAt: '2024-01-01T00:00:00.000Z',
      updatedAt: '2024-01-01T00:00:00.000Z',
    };
    const [ra, rb] = await Promise.all([a.create('agent', agent, writeContext('zendesk:41')), b.create('contact', contact, writeContext('zendesk:42'))]);
    expect(ra.targetId).toBe(rb.targetId);
    const user = await fetch(`${sb.url}/REST/2.0/user/${ra.targetId}`, { headers: { authorization: `token ${(sb.credentials as { token: string }).token}` } });
    expect(await user.json()).toMatchObject({ EmailAddress: agent.email, Privileged: 1 });
  });
});
