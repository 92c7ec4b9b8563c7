import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../../connectors/freshdesk/index.ts';
import { sandbox } from '../helpers.ts';

// Behaviours python-freshdesk 1.3.9 relies on and the sandbox got wrong; each pinned to its reference.
let sb: FreshdeskSandbox;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const call = (path: string, authorization: string, init: RequestInit = {}) =>
  fetch(`${sb.url}${path}`, { ...init, headers: { authorization, 'content-type': 'application/json' } });

beforeAll(async () => {
  sb = await sandbox({ tickets: 0, seed: 8 });
});
afterAll(() => sb?.close());

describe('freshdesk sandbox: what python-freshdesk found', () => {
  // API v2 reference, "Authentication": the API key is the user name and the password can be any
  // set of characters (python-freshdesk sends "unused_with_api_key"; curl examples use "X").
  it('accepts the API key with any dummy password, and still refuses a wrong key', async () => {
    for (const password of ['X', 'unused_with_api_key', 'anything at all']) {
      expect((await call('/api/v2/agents/me', basic(sb.credentials.apiKey!, password))).status, password).toBe(200);
    }
    expect((await call('/api/v2/agents/me', basic('wrong-key', 'X'))).status).toBe(401);
  });

  // API v2 reference, "Filter Tickets" (#filter_tickets): 30 results per page, `page` from 1 to 10.
  // python-freshdesk asks for the next page while a page is full; it got page 1 again every time.
  it('pages a field filter query instead of repeating its first 30 results', async () => {
    const made = Array.from({ length: 35 }, (_, i) => sb.createTicket({ subject: `Urgent ${i}`, priority: 4 }).id);
    const page = async (n: number) => {
      const res = await call(`/api/v2/search/tickets?page=${n}&query="priority:4"`, basic(sb.credentials.apiKey!, 'X'));
      expect(res.status).toBe(200);
      return ((await res.json()) as { results: { id: number }[]; total: number });
    };
    const [one, two] = [await page(1), await page(2)];
    expect(one.results).toHaveLength(30);
    expect(two.results).toHaveLength(5);
    expect(one.total).toBe(35);
    expect([...one.results, ...two.results].map((t) => t.id).sort((a, b) => a - b)).toEqual(made);
  });

  // API v2 reference, Roles › "List All Roles": id, name, description, default, created_at, updated_at.
  it('lists roles with their description and timestamps', async () => {
    const roles = (await (await call('/api/v2/roles', basic(sb.credentials.apiKey!, 'X'))).json()) as Record<string, unknown>[];
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      expect(role).toMatchObject({ id: expect.any(Number), name: expect.any(String), description: expect.any(String), default: expect.any(Boolean) });
      expect(Date.parse(String(role.created_at))).not.toBeNaN();
      expect(Date.parse(String(role.updated_at))).not.toBeNaN();
    }
  });

  // API v2 reference, Contacts › "Create a Contact" lists view_all_tickets (boolean) among the
  // attributes; python-freshdesk's create_contact always sends it with a description.
  it('creates a contact given view_all_tickets and a description, and shows both back', async () => {
    const made = await call('/api/v2/contacts', basic(sb.credentials.apiKey!, 'X'), {
      method: 'POST',
      body: JSON.stringify({ name: 'Viewer', email: 'viewer@example.com', view_all_tickets: false, description: 'Freshdesk Contact', job_title: 'Buyer' }),
    });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: number };
    const shown = await (await call(`/api/v2/contacts/${id}`, basic(sb.credentials.apiKey!, 'X'))).json();
    expect(shown).toMatchObject({ view_all_tickets: false, description: 'Freshdesk Contact', job_title: 'Buyer' });
  });
});
