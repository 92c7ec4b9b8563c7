import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../../../connectors/zendesk/index.ts';
import { sandbox } from '../helpers.ts';

// Behaviours zenpy 2.0.57 relies on and the sandbox got wrong; each pinned to its reference.
describe('zendesk sandbox: what zenpy found', () => {
  let sb: ZendeskSandbox;
  beforeAll(async () => {
    sb = await sandbox({ tickets: 2, seed: 9 });
  });
  afterAll(async () => sb?.close());

  // Zendesk API reference, Tickets › "Create Ticket" and "Update Ticket": the answer carries the ticket
  // and the audit the change made. zenpy's tickets.create returns that pair as a TicketAudit
  // (`audit.ticket.id`); without the audit it hands back a bare Ticket and callers fail.
  it('answers a ticket create with the ticket and its audit', async () => {
    const requester = [...sb.store.users.values()].find((u) => u.role === 'end-user' && u.active)!.id;
    const res = await fetch(`${sb.url}/api/v2/tickets.json`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ticket: { subject: 'Printer on fire', requester_id: requester, comment: { body: 'Smoke everywhere' } } }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { ticket: { id: number; created_at: string }; audit: { id: number; ticket_id: number; created_at: string; events: unknown[] } };
    expect(body.ticket.id).toEqual(expect.any(Number));
    expect(body.audit).toMatchObject({ id: expect.any(Number), ticket_id: body.ticket.id, created_at: body.ticket.created_at, events: expect.any(Array) });
  });
});
