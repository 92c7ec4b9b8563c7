import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../../connectors/freshdesk/index.ts';
import { sandbox } from '../helpers.ts';

// Each behaviour names its source: the Freshdesk API v2 reference (developers.freshdesk.com/api/),
// by section anchor. Where the reference is silent the test says what it follows instead.
let sb: FreshdeskSandbox;
let auth: string;

beforeAll(async () => {
  sb = await sandbox({ tickets: 0, seed: 15 });
  auth = basic(sb.apiKey, 'X');
});
afterAll(() => sb?.close());

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${sb.url}${path}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

let serial = 0;
const contact = async (extra: Record<string, unknown> = {}) => {
  serial += 1;
  const made = await api('POST', '/api/v2/contacts', { name: `Person ${serial}`, email: `person-${serial}@example.com`, ...extra });
  expect(made.status).toBe(201);
  return made.json as { id: number; email: string };
};
const ticket = async (extra: Record<string, unknown> = {}) => {
  const made = await api('POST', '/api/v2/tickets', { subject: 'Documented', description: '<p>body</p>', email: 'requester@example.com', status: 2, priority: 1, ...extra });
  expect(made.status).toBe(201);
  return made.json as { id: number; requester_id: number };
};

describe('#authentication: the API key with any dummy password', () => {
  it('accepts the key with any password, and refuses another key or no credentials with invalid_credentials', async () => {
    for (const password of ['X', 'anything-at-all', 'unused']) {
      expect((await api('GET', '/api/v2/agents/me', undefined, { authorization: basic(sb.apiKey, password) })).status).toBe(200);
    }
    const wrong = await api('GET', '/api/v2/agents/me', undefined, { authorization: basic('not-the-key', 'X') });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ code: 'invalid_credentials', message: 'You have to be logged in to perform this action.' });
    expect((await api('GET', '/api/v2/agents/me', undefined, { authorization: '' })).status).toBe(401);
  });
});

describe('#make_agent: PUT /contacts/{id}/make_agent', () => {
  it('takes the documented parameters and answers the contact with its agent object', async () => {
    const c = await contact();
    const made = await api('PUT', `/api/v2/contacts/${c.id}/make_agent`, { occasional: false, signature: '<p>Thanks</p>', ticket_scope: 2, type: 'collaborator', role_ids: [4], group_ids: [] });
    expect(made.status).toBe(200);
    expect(made.json).toMatchObject({ id: c.id, email: c.email, other_emails: [] });
    expect(made.json.agent).toMatchObject({ id: c.id, occasional: false, signature: '<p>Thanks</p>', ticket_scope: 2, type: 'collaborator' });
    const agent = await api('GET', `/api/v2/agents/${c.id}`);
    expect(agent.status).toBe(200);
    expect(agent.json).toMatchObject({ id: c.id, ticket_scope: 2, type: 'collaborator' });
    expect((await api('GET', `/api/v2/contacts/${c.id}`)).status).toBe(404);
  });

  it('without a payload makes a full-time support agent with global access', async () => {
    const c = await contact();
    const made = await api('PUT', `/api/v2/contacts/${c.id}/make_agent`);
    expect(made.status).toBe(200);
    expect(made.json.agent).toMatchObject({ id: c.id, occasional: false, ticket_scope: 1, type: 'support_agent' });
  });

  it.each([
    ['agent_type', 1],
    ['email', 'other@example.com'],
    ['name', 'Renamed'],
  ])('refuses the undocumented field %s with the validation error shape', async (field, value) => {
    const c = await contact();
    const refused = await api('PUT', `/api/v2/contacts/${c.id}/make_agent`, { ticket_scope: 1, [field]: value });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({ description: 'Validation failed', errors: [{ field, message: 'Unexpected/invalid field in request', code: 'invalid_field' }] });
    expect((await api('GET', `/api/v2/contacts/${c.id}`)).status).toBe(200);
  });

  it('refuses a type that is not support_agent, field_agent or collaborator', async () => {
    const c = await contact();
    const refused = await api('PUT', `/api/v2/contacts/${c.id}/make_agent`, { type: 'admin' });
    expect(refused.status).toBe(400);
    expect(refused.json.errors[0]).toMatchObject({ field: 'type', code: 'invalid_value' });
  });
});

describe('#delete_ticket / #restore_ticket: deleted tickets', () => {
  it('a deleted ticket is viewable with deleted: true, gone from the list except filter=deleted, and refuses update and delete with 405', async () => {
    const t = await ticket();
    expect((await api('DELETE', `/api/v2/tickets/${t.id}`)).status).toBe(204);
    const view = await api('GET', `/api/v2/tickets/${t.id}`);
    expect(view.status).toBe(200);
    expect(view.json).toMatchObject({ id: t.id, deleted: true });
    const list = await api('GET', '/api/v2/tickets?per_page=100');
    expect(list.json.map((x: { id: number }) => x.id)).not.toContain(t.id);
    const trash = await api('GET', '/api/v2/tickets?filter=deleted&per_page=100');
    expect(trash.status).toBe(200);
    expect(trash.json.map((x: { id: number }) => x.id)).toEqual([t.id]);
    expect(trash.json[0].deleted).toBe(true);
    const update = await api('PUT', `/api/v2/tickets/${t.id}`, { priority: 2 });
    expect(update.status).toBe(405);
    expect(update.json.code).toBe('method_not_allowed');
    expect((await api('DELETE', `/api/v2/tickets/${t.id}`)).status).toBe(405);
    expect((await api('POST', `/api/v2/tickets/${t.id}/notes`, { body: '<p>late</p>' })).status).toBe(405);
    const search = await api('GET', `/api/v2/search/tickets?query=${encodeURIComponent(`"created_at:>'2000-01-01'"`)}`);
    expect(search.json.results.map((x: { id: number }) => x.id)).not.toContain(t.id);
  });

  it('PUT /tickets/{id}/restore brings it back (204); a ticket that is not deleted has nothing to restore (404)', async () => {
    const t = await ticket();
    expect((await api('PUT', `/api/v2/tickets/${t.id}/restore`)).status).toBe(404);
    await api('DELETE', `/api/v2/tickets/${t.id}`);
    expect((await api('PUT', `/api/v2/tickets/${t.id}/restore`)).status).toBe(204);
    const view = await api('GET', `/api/v2/tickets/${t.id}`);
    expect(view.json.deleted).toBeUndefined();
    expect((await api('GET', '/api/v2/tickets?per_page=100')).json.map((x: { id: number }) => x.id)).toContain(t.id);
    expect((await api('PUT', `/api/v2/tickets/${t.id}`, { priority: 3 })).status).toBe(200);
  });
});

describe('#error_codes: 406 for a non-JSON Accept, 415 for a non-JSON body', () => {
  it('answers 406 to an Accept header that admits no JSON, and serves */*, application/json and none', async () => {
    expect((await api('GET', '/api/v2/agents/me', undefined, { accept: 'application/xml' })).status).toBe(406);
    expect((await api('GET', '/api/v2/agents/me', undefined, { accept: 'text/html' })).status).toBe(406);
    for (const accept of ['*/*', 'application/json', 'application/json; charset=utf-8', 'text/html, application/json;q=0.9']) {
      expect((await api('GET', '/api/v2/agents/me', undefined, { accept })).status).toBe(200);
    }
  });

  it('answers 415 to a body that is not JSON, and still takes multipart/form-data for attachments', async () => {
    const xml = await api('POST', '/api/v2/contacts', '<contact><name>X</name></contact>', { 'content-type': 'application/xml' });
    expect(xml.status).toBe(415);
    expect(xml.json.code).toBe('invalid_content_type');
    const form = new FormData();
    for (const [k, v] of Object.entries({ subject: 'multipart', description: '<p>x</p>', email: 'form@example.com', status: '2', priority: '1' })) form.append(k, v);
    form.append('attachments[]', new Blob([new Uint8Array(10)]), 'a.bin');
    const multipart = await fetch(`${sb.url}/api/v2/tickets`, { method: 'POST', headers: { authorization: auth }, body: form });
    expect(multipart.status).toBe(201);
  });
});

describe('#list_all_tickets and #view_a_ticket: include', () => {
  it('the list embeds requester, stats and description on request', async () => {
    const t = await ticket({ email: 'include-list@example.com' });
    const plain = await api('GET', '/api/v2/tickets?per_page=100');
    const bare = plain.json.find((x: { id: number }) => x.id === t.id);
    expect(bare.description).toBeUndefined();
    expect(bare.requester).toBeUndefined();
    const rich = await api('GET', '/api/v2/tickets?per_page=100&include=requester,stats,description');
    const one = rich.json.find((x: { id: number }) => x.id === t.id);
    expect(one.description).toBe('<p>body</p>');
    expect(one.requester).toMatchObject({ id: t.requester_id, email: 'include-list@example.com' });
    expect(one.stats).toHaveProperty('first_responded_at');
    expect(one.stats).toHaveProperty('resolved_at', null);
  });

  it('the view embeds conversations, requester, company and stats on request', async () => {
    const t = await ticket();
    await api('POST', `/api/v2/tickets/${t.id}/notes`, { body: '<p>note</p>' });
    const view = await api('GET', `/api/v2/tickets/${t.id}?include=conversations,requester,company,stats`);
    expect(view.status).toBe(200);
    expect(view.json.conversations).toHaveLength(1);
    expect(view.json.requester.id).toBe(t.requester_id);
    expect(view.json).toHaveProperty('company');
    expect(view.json).toHaveProperty('stats.closed_at', null);
  });

  it('an include the endpoint does not document is a validation error', async () => {
    const t = await ticket();
    const list = await api('GET', '/api/v2/tickets?include=conversations');
    expect(list.status).toBe(400);
    expect(list.json.errors[0]).toMatchObject({ field: 'include', code: 'invalid_value' });
    const view = await api('GET', `/api/v2/tickets/${t.id}?include=description`);
    expect(view.status).toBe(400);
    expect(view.json.errors[0]).toMatchObject({ field: 'include', code: 'invalid_value' });
  });
});

describe('#list_all_tickets: filters', () => {
  it('narrows by requester_id, email, unique_external_id and company_id', async () => {
    const company = (await api('POST', '/api/v2/companies', { name: 'Filter Co' })).json as { id: number };
    const a = await contact({ unique_external_id: 'filter-ext-a', company_id: company.id });
    const b = await contact();
    const ta = await ticket({ requester_id: a.id, email: undefined });
    const tb = await ticket({ requester_id: b.id, email: undefined });
    const ids = async (query: string) => (await api('GET', `/api/v2/tickets?per_page=100&${query}`)).json.map((x: { id: number }) => x.id);
    expect(await ids(`requester_id=${a.id}`)).toEqual([ta.id]);
    expect(await ids(`email=${encodeURIComponent(b.email)}`)).toEqual([tb.id]);
    expect(await ids('unique_external_id=filter-ext-a')).toEqual([ta.id]);
    expect(await ids(`company_id=${company.id}`)).toEqual([ta.id]);
    const unknown = await api('GET', '/api/v2/tickets?email=nobody-at-all@example.com');
    expect(unknown.status).toBe(400);
    expect(unknown.json.errors[0]).toMatchObject({ field: 'email', code: 'invalid_value' });
  });

  it('filter= takes new_and_my_open, watching, spam and deleted only', async () => {
    const me = (await api('GET', '/api/v2/agents/me')).json as { id: number };
    const mine = await ticket({ responder_id: me.id });
    const pending = await ticket({ status: 3 });
    const open = await api('GET', '/api/v2/tickets?per_page=100&filter=new_and_my_open');
    const ids = open.json.map((x: { id: number }) => x.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(pending.id);
    expect(open.json.every((x: { status: number }) => x.status === 2)).toBe(true);
    expect((await api('GET', '/api/v2/tickets?filter=watching')).json).toEqual([]);
    expect((await api('GET', '/api/v2/tickets?filter=spam')).json).toEqual([]);
    const bad = await api('GET', '/api/v2/tickets?filter=everything');
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0]).toMatchObject({ field: 'filter', code: 'invalid_value' });
  });
});

describe('#filter_tickets: GET /search/tickets', () => {
  const search = async (query: string, page?: number) =>
    api('GET', `/api/v2/search/tickets?query=${encodeURIComponent(query)}${page === undefined ? '' : `&page=${page}`}`);
  const ids = async (query: string) => {
    const res = await search(query);
    expect(res.status).toBe(200);
    return (res.json.results as { id: number }[]).map((t) => t.id).sort((a, b) => a - b);
  };
  let me: number;
  let made: Record<string, number>;

  beforeAll(async () => {
    me = (await api('GET', '/api/v2/agents/me')).json.id;
    const field = await api('POST', '/api/v2/admin/ticket_fields', { label: 'Order No', type: 'custom_number' });
    expect(field.json.name).toBe('cf_order_no');
    await api('POST', '/api/v2/admin/ticket_fields', { label: 'Notes Box', type: 'custom_paragraph' });
    const one = async (extra: Record<string, unknown>) => (await ticket({ tags: ['ft'], ...extra })).id;
    made = {
      low: await one({ priority: 1, custom_fields: { cf_order_no: 50 } }),
      high: await one({ priority: 3, responder_id: me, type: 'Incident', custom_fields: { cf_order_no: 150 } }),
      urgent: await one({ priority: 4, type: 'Problem', tags: ['ft', 'vip'] }),
      pending: await one({ priority: 2, status: 3 }),
    };
  });

  it('combines conditions with AND, OR and parentheses', async () => {
    expect(await ids(`"tag:'ft' AND (priority:3 OR priority:4)"`)).toEqual([made.high, made.urgent]);
    expect(await ids(`"(tag:'vip' OR status:3) AND tag:'ft'"`)).toEqual([made.urgent, made.pending]);
    // AND binds tighter than OR.
    expect(await ids(`"tag:'vip' OR tag:'ft' AND priority:1"`)).toEqual([made.low, made.urgent]);
  });

  it(':> and :< are greater-or-equal and less-or-equal on numbers and dates', async () => {
    expect(await ids(`"tag:'ft' AND priority:>3"`)).toEqual([made.high, made.urgent]);
    expect(await ids(`"tag:'ft' AND priority:<2"`)).toEqual([made.low, made.pending]);
    expect(await ids(`"tag:'ft' AND cf_order_no:<50"`)).toEqual([made.low]);
    const today = new Date().toISOString().slice(0, 10);
    expect(await ids(`"tag:'ft' AND created_at:>'${today}'"`)).toEqual(Object.values(made).sort((a, b) => a - b));
    expect(await ids(`"tag:'ft' AND created_at:'${today}'"`)).toHaveLength(4);
    expect(await ids(`"tag:'ft' AND updated_at:<'2001-01-01'"`)).toEqual([]);
  });

  it('null finds tickets without an agent or a type; agent_id and type match', async () => {
    expect(await ids(`"tag:'ft' AND agent_id:null"`)).toEqual([made.low, made.urgent, made.pending]);
    expect(await ids(`"tag:'ft' AND agent_id:${me}"`)).toEqual([made.high]);
    expect(await ids(`"tag:'ft' AND type:'Incident'"`)).toEqual([made.high]);
    expect(await ids(`"tag:'ft' AND type:null"`)).toEqual([made.low, made.pending]);
  });

  it('custom fields of the supported types, by the name the Ticket Fields endpoint gives them', async () => {
    expect(await ids(`"cf_order_no:>100"`)).toEqual([made.high]);
    expect(await ids(`"tag:'ft' AND cf_order_no:null"`)).toEqual([made.urgent, made.pending]);
    const paragraph = await search(`"cf_notes_box:'x'"`);
    expect(paragraph.status).toBe(400);
    expect(paragraph.json.errors[0]).toMatchObject({ field: 'cf_notes_box', code: 'invalid_field' });
  });

  it('refuses a query not in double quotes, malformed, unquoted strings, unknown fields and more than 512 characters', async () => {
    for (const query of [`tag:'ft'`, `"tag:'ft' AND"`, `"(tag:'ft'"`, `"tag:ft"`, `"requester_email:'a@b.c'"`, `"${"tag:'x' OR ".repeat(60)}tag:'y'"`]) {
      const res = await search(query);
      expect(res.status, query).toBe(400);
      expect(res.json.description).toBe('Validation failed');
    }
  });

  it('answers 30 results a page with the total of all matches, pages 1 to 10 only', async () => {
    for (let i = 0; i < 31; i++) await ticket({ tags: ['paged'] });
    const first = await search(`"tag:'paged'"`);
    expect(first.json.results).toHaveLength(30);
    expect(first.json.total).toBe(31);
    const second = await search(`"tag:'paged'"`, 2);
    expect(second.json.results).toHaveLength(1);
    expect((await search(`"tag:'paged'"`, 11)).status).toBe(400);
  });
});

describe('#create_contact / #update_contact: the documented attributes', () => {
  it('keeps view_all_tickets, other_emails, other_companies, address, description, job_title, language and twitter_id', async () => {
    const home = (await api('POST', '/api/v2/companies', { name: 'Contact Home Co' })).json as { id: number };
    const other = (await api('POST', '/api/v2/companies', { name: 'Contact Other Co' })).json as { id: number };
    const made = await api('POST', '/api/v2/contacts', {
      name: 'Full Contact',
      email: 'full@example.com',
      company_id: home.id,
      view_all_tickets: true,
      other_emails: ['Full.Alt@example.com'],
      other_companies: [{ company_id: other.id, view_all_tickets: false }],
      address: '1 Main Street',
      description: 'A contact with every attribute',
      job_title: 'Buyer',
      language: 'de',
      twitter_id: 'fullcontact',
    });
    expect(made.status).toBe(201);
    const read = await api('GET', `/api/v2/contacts/${made.json.id}`);
    expect(read.json).toMatchObject({
      view_all_tickets: true,
      other_emails: ['full.alt@example.com'],
      other_companies: [{ company_id: other.id, view_all_tickets: false }],
      address: '1 Main Street',
      description: 'A contact with every attribute',
      job_title: 'Buyer',
      language: 'de',
      twitter_id: 'fullcontact',
    });
    const updated = await api('PUT', `/api/v2/contacts/${made.json.id}`, { view_all_tickets: false, job_title: 'Head Buyer' });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ view_all_tickets: false, job_title: 'Head Buyer', address: '1 Main Street' });
  });

  it('a new contact reads back the documented defaults', async () => {
    const c = await contact();
    const read = await api('GET', `/api/v2/contacts/${c.id}`);
    expect(read.json).toMatchObject({ view_all_tickets: false, other_emails: [], address: null, job_title: null, twitter_id: null, active: true });
  });

  it('refuses a mistyped view_all_tickets, malformed other_emails and an undocumented attribute', async () => {
    const c = await contact();
    expect((await api('PUT', `/api/v2/contacts/${c.id}`, { view_all_tickets: 'yes' })).json.errors[0]).toMatchObject({ field: 'view_all_tickets', code: 'datatype_mismatch' });
    expect((await api('PUT', `/api/v2/contacts/${c.id}`, { other_emails: ['not-an-email'] })).json.errors[0]).toMatchObject({ field: 'other_emails', code: 'invalid_value' });
    expect((await api('PUT', `/api/v2/contacts/${c.id}`, { nickname: 'x' })).json.errors[0]).toMatchObject({ field: 'nickname', code: 'invalid_field' });
  });
});

describe('#list_all_contacts: the unique_external_id filter', () => {
  // The reference's filter list for List All Contacts names email, mobile, phone, company_id, state and
  // updated_since only. Public clients filter by unique_external_id and take the first contact of the answer
  // (placek/freshdesk-rest, spec/freshdesk-rest/resource/contact_spec.rb: GET /contacts?unique_external_id=…),
  // which the live API must therefore honour; a sandbox that ignored the filter handed them every contact.
  it('lists only the contact with that external ID, and none for an ID nobody has', async () => {
    const a = await contact({ unique_external_id: 'crm-1001' });
    await contact({ unique_external_id: 'crm-1002' });
    await contact();
    const hit = await api('GET', '/api/v2/contacts?unique_external_id=crm-1001');
    expect(hit.status).toBe(200);
    expect((hit.json as { id: number }[]).map((c) => c.id)).toEqual([a.id]);
    const none = await api('GET', '/api/v2/contacts?unique_external_id=crm-9999');
    expect(none.status).toBe(200);
    expect(none.json).toEqual([]);
  });

  it('combines with the documented filters', async () => {
    const home = (await api('POST', '/api/v2/companies', { name: 'External Id Co' })).json as { id: number };
    const c = await contact({ unique_external_id: 'crm-2001', company_id: home.id });
    expect((await api('GET', `/api/v2/contacts?unique_external_id=crm-2001&company_id=${home.id}`)).json.map((x: { id: number }) => x.id)).toEqual([c.id]);
    expect((await api('GET', `/api/v2/contacts?unique_external_id=crm-2001&company_id=${home.id + 1000}`)).json).toEqual([]);
  });
});

describe('#create_ticket / #update_ticket: custom fields by their API name', () => {
  // #ticket_fields: a custom field's `name` is `cf_` + its label in snake case, and #create_ticket's
  // custom_fields takes "key value pairs containing the names and values of custom fields". A name without
  // the prefix names no field: #error_codes, invalid_field "Unexpected/invalid field in request".
  beforeAll(async () => {
    const field = await api('POST', '/api/v2/admin/ticket_fields', { label: 'Order Ref', type: 'custom_text' });
    expect(field.json.name).toBe('cf_order_ref');
  });

  it('takes cf_<name> on create and update', async () => {
    const made = await ticket({ custom_fields: { cf_order_ref: 'A-1' } });
    expect((await api('GET', `/api/v2/tickets/${made.id}`)).json.custom_fields).toMatchObject({ cf_order_ref: 'A-1' });
    const updated = await api('PUT', `/api/v2/tickets/${made.id}`, { custom_fields: { cf_order_ref: 'A-2' } });
    expect(updated.status).toBe(200);
    expect(updated.json.custom_fields).toMatchObject({ cf_order_ref: 'A-2' });
  });

  it('refuses the name without cf_ on create and update with the validation error body', async () => {
    const refusal = { description: 'Validation failed', errors: [{ field: 'order_ref', message: 'Unexpected/invalid field in request', code: 'invalid_field' }] };
    const create = await api('POST', '/api/v2/tickets', { subject: 'No prefix', description: '<p>x</p>', email: 'requester@example.com', status: 2, priority: 1, custom_fields: { order_ref: 'B-1' } });
    expect(create.status).toBe(400);
    expect(create.json).toEqual(refusal);
    const made = await ticket();
    const update = await api('PUT', `/api/v2/tickets/${made.id}`, { custom_fields: { order_ref: 'B-2' } });
    expect(update.status).toBe(400);
    expect(update.json).toEqual(refusal);
    expect((await api('GET', `/api/v2/tickets/${made.id}`)).json.custom_fields.cf_order_ref).toBeNull();
  });
});

describe('#roles: the documented attributes', () => {
  it('lists roles with id, name, description, default, created_at and updated_at, and views one', async () => {
    const roles = (await api('GET', '/api/v2/roles')).json as Record<string, unknown>[];
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) expect(Object.keys(role).sort()).toEqual(['created_at', 'default', 'description', 'id', 'name', 'updated_at']);
    const one = await api('GET', `/api/v2/roles/${roles[0].id}`);
    expect(one.status).toBe(200);
    expect(one.json).toEqual(roles[0]);
    expect((await api('GET', '/api/v2/roles/999999')).status).toBe(404);
  });
});

describe('endpoints a migration reads besides tickets and people', () => {
  it('#list_all_contact_fields and #list_all_company_fields: the default fields', async () => {
    const contactFields = await api('GET', '/api/v2/contact_fields');
    expect(contactFields.status).toBe(200);
    expect(contactFields.json.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['name', 'email', 'phone', 'mobile', 'company_name', 'unique_external_id']));
    expect(contactFields.json[0]).toMatchObject({ id: expect.any(Number), label: expect.any(String), type: 'default_name', default: true, position: 1 });
    const companyFields = await api('GET', '/api/v2/company_fields');
    expect(companyFields.json.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['name', 'description', 'note', 'domains']));
  });

  it('#time_entries: created on a ticket, listed per ticket and for the account with its filters', async () => {
    const me = (await api('GET', '/api/v2/agents/me')).json.id as number;
    const t = await ticket();
    const made = await api('POST', `/api/v2/tickets/${t.id}/time_entries`, { time_spent: '01:30', note: 'Investigated', billable: false, executed_at: '2024-03-01T10:00:00Z' });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ ticket_id: t.id, agent_id: me, time_spent: '01:30', billable: false, timer_running: false, note: 'Investigated', executed_at: '2024-03-01T10:00:00Z' });
    expect((await api('GET', `/api/v2/tickets/${t.id}/time_entries`)).json).toHaveLength(1);
    expect((await api('GET', '/api/v2/time_entries?billable=false')).json.map((e: { id: number }) => e.id)).toContain(made.json.id);
    expect((await api('GET', '/api/v2/time_entries?executed_after=2024-03-02T00:00:00Z')).json.map((e: { id: number }) => e.id)).not.toContain(made.json.id);
    const bad = await api('POST', `/api/v2/tickets/${t.id}/time_entries`, { time_spent: '90 minutes' });
    expect(bad.json.errors[0]).toMatchObject({ field: 'time_spent', code: 'invalid_value' });
  });

  it('#satisfaction_ratings: a rating on a ticket is listed; ratings outside the scale are refused', async () => {
    const t = await ticket();
    expect((await api('GET', '/api/v2/surveys')).json[0].questions[0].id).toBe('default_question');
    const made = await api('POST', `/api/v2/tickets/${t.id}/satisfaction_ratings`, { ratings: { default_question: 103 }, feedback: 'Great' });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ ticket_id: t.id, user_id: t.requester_id, ratings: { default_question: 103 }, feedback: 'Great' });
    expect((await api('GET', '/api/v2/surveys/satisfaction_ratings')).json.map((r: { id: number }) => r.id)).toContain(made.json.id);
    expect((await api('POST', `/api/v2/tickets/${t.id}/satisfaction_ratings`, { ratings: { default_question: 5 } })).status).toBe(400);
  });

  it('#ticket-forms, #products, #email_configs, #business_hours and #canned_responses answer their lists', async () => {
    const forms = await api('GET', '/api/v2/ticket-forms');
    expect(forms.json[0]).toMatchObject({ default: true, fields: expect.arrayContaining([expect.objectContaining({ name: 'subject' })]) });
    expect((await api('GET', '/api/v2/products')).json).toEqual([]);
    expect((await api('GET', '/api/v2/email_configs')).json[0]).toMatchObject({ primary_role: true, active: true, to_email: expect.stringContaining('@') });
    expect((await api('GET', '/api/v2/business_hours')).json[0]).toMatchObject({ is_default: true, business_hours: expect.any(Object) });
    const folders = await api('GET', '/api/v2/canned_response_folders');
    expect(folders.json[0]).toMatchObject({ name: expect.any(String), responses_count: 0 });
    expect((await api('GET', `/api/v2/canned_response_folders/${folders.json[0].id}/responses`)).json).toEqual([]);
  });

  it('#solutions: category and folder translations are created, read and updated by language', async () => {
    const category = (await api('POST', '/api/v2/solutions/categories', { name: 'Getting started' })).json as { id: number };
    const folder = (await api('POST', `/api/v2/solutions/categories/${category.id}/folders`, { name: 'Basics', visibility: 1 })).json as { id: number };
    for (const [kind, id, name] of [['categories', category.id, 'Erste Schritte'], ['folders', folder.id, 'Grundlagen']] as const) {
      expect((await api('GET', `/api/v2/solutions/${kind}/${id}/de`)).status).toBe(404);
      const made = await api('POST', `/api/v2/solutions/${kind}/${id}/de`, { name, description: 'auf Deutsch' });
      expect(made.status).toBe(201);
      expect(made.json).toMatchObject({ id, name, description: 'auf Deutsch', language: 'de' });
      expect((await api('POST', `/api/v2/solutions/${kind}/${id}/de`, { name })).status).toBe(409);
      expect((await api('PUT', `/api/v2/solutions/${kind}/${id}/de`, { description: 'neu' })).json).toMatchObject({ name, description: 'neu' });
      expect((await api('GET', `/api/v2/solutions/${kind}/${id}/de`)).json).toMatchObject({ name, description: 'neu' });
      expect((await api('PUT', `/api/v2/solutions/${kind}/${id}/fr`, { name: 'x' })).status).toBe(404);
      expect((await api('POST', `/api/v2/solutions/${kind}/${id}/xx`, { name: 'x' })).status).toBe(400);
    }
    // The folder list of the category is still the folder list, not a translation.
    expect((await api('GET', `/api/v2/solutions/categories/${category.id}/folders`)).json.map((f: { id: number }) => f.id)).toEqual([folder.id]);
  });
});

describe('#filter_contacts and #filter_companies: the filter query language on contacts and companies', () => {
  const search = (kind: string, query: string, page?: number) =>
    api('GET', `/api/v2/search/${kind}?query=${encodeURIComponent(query)}${page === undefined ? '' : `&page=${page}`}`);

  it('#filter_contacts: AND/OR and parentheses over email, phone, company_id and dates; 30 a page, pages 1–10', async () => {
    const company = await api('POST', '/api/v2/companies', { name: `Filter Co ${Date.now()}`, domains: ['filterco.example'] });
    expect(company.status).toBe(201);
    const a = await contact({ phone: '5550101', company_id: company.json.id });
    const b = await contact({ phone: '5550102' });
    await contact({ phone: '5550103' });
    const ids = (r: { json: { results: { id: number }[] } }) => r.json.results.map((x) => x.id).sort((x, y) => x - y);
    expect(ids(await search('contacts', `"email:'${a.email}'"`))).toEqual([a.id]);
    expect(ids(await search('contacts', `"phone:'5550101' OR phone:'5550102'"`))).toEqual([a.id, b.id].sort((x, y) => x - y));
    expect(ids(await search('contacts', `"(phone:'5550101' OR phone:'5550102') AND company_id:${company.json.id}"`))).toEqual([a.id]);
    const today = new Date().toISOString().slice(0, 10);
    const recent = await search('contacts', `"created_at:>'${today}' AND phone:'5550103'"`);
    expect(recent.json.total).toBe(1);
    expect((await search('contacts', `"created_at:<'2000-01-01' AND phone:'5550103'"`)).json.total).toBe(0);
    expect((await search('contacts', `"created_at:>'not a date'"`)).status).toBe(400);
    expect((await search('contacts', `"email:'x'"`, 11)).status).toBe(400);
    expect((await search('contacts', `"email:'x' AND"`)).status).toBe(400);
  });

  it('#filter_companies: by domain and dates, combined with AND/OR', async () => {
    const one = await api('POST', '/api/v2/companies', { name: `Domain One ${Date.now()}`, domains: ['one-domain.example'] });
    const two = await api('POST', '/api/v2/companies', { name: `Domain Two ${Date.now()}`, domains: ['two-domain.example'] });
    const ids = (r: { json: { results: { id: number }[] } }) => r.json.results.map((x) => x.id).sort((x, y) => x - y);
    expect(ids(await search('companies', `"domain:'one-domain.example'"`))).toEqual([one.json.id]);
    expect(ids(await search('companies', `"domain:'one-domain.example' OR domain:'two-domain.example'"`))).toEqual([one.json.id, two.json.id].sort((x, y) => x - y));
    const today = new Date().toISOString().slice(0, 10);
    expect(ids(await search('companies', `"domain:'two-domain.example' AND updated_at:>'${today}'"`))).toEqual([two.json.id]);
    expect((await search('companies', `"domain:'two-domain.example' AND created_at:<'2000-01-01'"`)).json.total).toBe(0);
  });
});
