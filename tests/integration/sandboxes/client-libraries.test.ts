import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFreshdeskSandbox, type FreshdeskSandbox } from '../../../connectors/freshdesk/sandbox/server.ts';
import { zendesk, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';

// Published client libraries, unchanged, pointed at the sandboxes: the sandboxes speak the platforms' APIs.
describe('real client libraries against the sandboxes', () => {
  let zd: ZendeskSandbox;
  let fd: FreshdeskSandbox;
  beforeAll(async () => {
    [zd, fd] = await Promise.all([
      zendesk.startSandbox({ tickets: 12, seed: 4, maxComments: 3 }),
      startFreshdeskSandbox({ tickets: 12, seed: 4, maxComments: 3 }),
    ]);
  });
  afterAll(async () => Promise.all([zd?.close(), fd?.close()]));

  it('node-zendesk reads the authenticated user, tickets and their comments', async () => {
    const { createClient } = await import('node-zendesk');
    const client = createClient({ username: zd.credentials.email, token: zd.credentials.apiToken, endpointUri: `${zd.url}/api/v2` });
    const me = (await client.users.me()) as unknown as { result?: { email: string }; email?: string };
    expect((me.result ?? me).email).toBe(zd.credentials.email);
    const tickets = (await client.tickets.list()) as unknown as { id: number; subject: string }[];
    // List Tickets leaves archived tickets (closed over 120 days ago) out, as Zendesk does.
    const archived = [...Array(12).keys()].filter((i) => zd.store.ticket(i + 1)?.archived).length;
    expect(archived).toBeGreaterThan(0);
    expect(tickets).toHaveLength(12 - archived);
    const comments = (await client.tickets.getComments(tickets[0].id)) as unknown as { body: string }[];
    expect(comments.length).toBeGreaterThan(0);
    const bad = createClient({ username: zd.credentials.email, token: 'wrong', endpointUri: `${zd.url}/api/v2` });
    await expect(bad.users.me()).rejects.toThrow('401');
  });

  it('freshdesk-api lists tickets, reads one and is refused with a wrong key', async () => {
    const Freshdesk = (await import('freshdesk-api')).default as unknown as new (url: string, key: string) => Record<string, (...args: unknown[]) => void>;
    const client = new Freshdesk(fd.url, fd.credentials.apiKey);
    const list = promisify(client.listAllTickets.bind(client)) as (params: unknown) => Promise<{ id: number; subject: string }[]>;
    const tickets = await list({ updated_since: '2000-01-01T00:00:00Z', per_page: 100 });
    expect(tickets).toHaveLength(12);
    const get = promisify(client.getTicket.bind(client)) as (id: number) => Promise<{ id: number; subject: string }>;
    const one = await get(tickets[0].id);
    expect(one.subject).toBe(tickets[0].subject);
    const bad = new Freshdesk(fd.url, 'wrong-key');
    const badList = promisify(bad.listAllTickets.bind(bad)) as (params: unknown) => Promise<unknown>;
    await expect(badList({})).rejects.toBeTruthy();
  });
});
