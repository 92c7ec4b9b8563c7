import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../../../connectors/freshdesk/index.ts';
import { sandbox } from '../helpers.ts';

// Freshdesk API v2 reference, Contacts › "Create a Contact": a name, and one of email, phone,
// mobile, twitter_id or unique_external_id is mandatory; email and unique_external_id are unique.
let sb: FreshdeskSandbox;
let auth: string;

beforeAll(async () => {
  sb = await sandbox({ tickets: 0, seed: 5 });
  auth = `Basic ${Buffer.from(`${sb.credentials.apiKey}:X`).toString('base64')}`;
});
afterAll(() => sb?.close());

const create = (body: unknown) =>
  fetch(`${sb.url}/api/v2/contacts`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('freshdesk sandbox: Create a Contact', () => {
  it('creates a contact identified only by unique_external_id, and refuses one identified by nothing', async () => {
    const made = await create({ name: 'No Email', unique_external_id: 'ext-1', email: null, phone: null });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ name: 'No Email', email: null, unique_external_id: 'ext-1' });
    const again = await create({ name: 'Same Id', unique_external_id: 'ext-1' });
    expect(again.status).toBe(409);
    const nothing = await create({ name: 'Nobody' });
    expect(nothing.status).toBe(400);
    expect(await nothing.json()).toMatchObject({ errors: [{ field: 'email', code: 'missing_field' }] });
  });

  // Create a Ticket: "The total size of these attachments cannot exceed 20MB"; Conversations / Create a
  // Note: "The total size of all of a ticket's attachments (not just this note) cannot exceed 20MB."
  it('refuses more than 20 MB of attachments on one ticket, its description and notes together', async () => {
    const MB = 1024 * 1024;
    const post = (path: string, fields: Record<string, string>, sizes: number[]) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      sizes.forEach((size, i) => form.append('attachments[]', new Blob([new Uint8Array(size)]), `f${i}.bin`));
      return fetch(`${sb.url}${path}`, { method: 'POST', headers: { authorization: auth }, body: form });
    };
    const ticket = { subject: 'files', description: '<p>files</p>', email: 'files@example.com', status: '2', priority: '1' };
    const tooMuch = await post('/api/v2/tickets', ticket, [15 * MB, 6 * MB]);
    expect(tooMuch.status).toBe(400);
    expect(await tooMuch.json()).toMatchObject({ errors: [{ field: 'attachments', code: 'invalid_size' }] });
    const fits = await post('/api/v2/tickets', ticket, [15 * MB, 4 * MB]);
    expect(fits.status).toBe(201);
    const { id } = (await fits.json()) as { id: number };
    expect((await post(`/api/v2/tickets/${id}/notes`, { body: '<p>more</p>' }, [21 * MB])).status).toBe(400);
    // 19 MB on the ticket already: a note of 2 MB would pass alone, not on this ticket.
    const over = await post(`/api/v2/tickets/${id}/notes`, { body: '<p>more</p>' }, [2 * MB]);
    expect(over.status).toBe(400);
    expect(await over.json()).toMatchObject({ errors: [{ field: 'attachments', code: 'invalid_size' }] });
    expect((await post(`/api/v2/tickets/${id}/notes`, { body: '<p>more</p>' }, [MB])).status).toBe(201);
    expect((await post(`/api/v2/tickets/${id}/notes`, { body: '<p>more</p>' }, [1])).status).toBe(400);
    expect((await post(`/api/v2/tickets/${id}/notes`, { body: '<p>no files</p>' }, [])).status).toBe(201);
    const other = await post('/api/v2/tickets', ticket, []);
    const otherId = ((await other.json()) as { id: number }).id;
    expect((await post(`/api/v2/tickets/${otherId}/notes`, { body: '<p>fresh ticket</p>' }, [19 * MB])).status).toBe(201);
  });
});
