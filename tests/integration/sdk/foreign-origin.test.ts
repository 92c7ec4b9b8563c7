import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../connectors/sdk/http.ts';
import { HdmError } from '../../../schemas/errors.ts';
import { ZendeskClient } from '../../../connectors/zendesk/zendesk.client.ts';

interface Tiny {
  url: string;
  seen: IncomingHttpHeaders[];
  server: Server;
}

async function tiny(answer: (path: string) => unknown): Promise<Tiny> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer(req.url ?? '/')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

let api: Tiny;
let elsewhere: Tiny;
beforeAll(async () => {
  elsewhere = await tiny(() => ({ tickets: [{ id: 99 }], next_page: null }));
  api = await tiny((path) =>
    path.startsWith('/api/v2/tickets.json?page=2')
      ? { tickets: [{ id: 2 }], next_page: null }
      : { tickets: [{ id: 1 }], next_page: path.includes('foreign') ? `${elsewhere.url}/api/v2/tickets.json?page=2` : `${api.url}/api/v2/tickets.json?page=2` },
  );
});
afterAll(async () => {
  for (const t of [api, elsewhere]) await new Promise((r) => t?.server.close(r));
});

describe('next-page links to another host (regression: the Authorization header followed them)', () => {
  it('follows a next page on the configured origin', async () => {
    const client = new ZendeskClient({ url: api.url, credentials: { email: 'a@example.com', apiToken: 'tok-origin-1' } });
    const ids = (await client.all<{ id: number }>('api/v2/tickets.json', 'tickets')).map((t) => t.id);
    expect(ids).toEqual([1, 2]);
    await client.close();
  });

  it('refuses a next page on another origin, naming the platform and that origin, without a request there', async () => {
    const client = new ZendeskClient({ url: api.url, credentials: { email: 'a@example.com', apiToken: 'tok-origin-2' } });
    const err = await client.all('api/v2/tickets.json', 'tickets', { foreign: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(HdmError);
    expect(err).toMatchObject({ code: 'REJECTED', retryable: false, context: { platform: 'zendesk', foreignOrigin: elsewhere.url } });
    expect(err.message).toContain(`zendesk answered with a link to ${elsewhere.url}`);
    expect(elsewhere.seen).toHaveLength(0);
    await client.close();
  });

  it('a client without credentials may fetch from another origin, and a request header credential is dropped there', async () => {
    const files = new HttpClient({ platform: 'freshdesk', baseUrl: api.url });
    const res = await files.send<{ tickets: unknown[] }>({ path: `${elsewhere.url}/file`, headers: { authorization: 'Bearer per-request-secret' } });
    expect(res.body.tickets).toHaveLength(1);
    expect(elsewhere.seen.at(-1)?.authorization).toBeUndefined();
    await files.close();
  });
});
