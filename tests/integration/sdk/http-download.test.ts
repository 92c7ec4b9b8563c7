import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FreshdeskConnector } from '../../../connectors/freshdesk/freshdesk.connector.ts';
import { HttpClient } from '../../../connectors/sdk/http.ts';
import { ZendeskClient } from '../../../connectors/zendesk/zendesk.client.ts';

// Integration: attachment downloads follow the HTTP client's one retry policy, against a real local server.
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

interface FileHost {
  url: string;
  hits: { at: number; headers: IncomingHttpHeaders }[];
  server: Server;
}

const BYTES = Buffer.from([0, 1, 2, 250, 251, 252]);

/** Answers each request with the next scripted answer; once they run out, with the file. */
async function fileHost(script: Answer[]): Promise<FileHost> {
  const hits: FileHost['hits'] = [];
  const server = createServer((req, res) => {
    hits.push({ at: Date.now(), headers: req.headers });
    const next = script.shift();
    if (next) {
      res.writeHead(next.status, { 'content-type': 'text/plain', ...next.headers });
      res.end(next.body ?? '');
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(BYTES.length) });
    res.end(BYTES);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
  return host;
}

let host: FileHost | null = null;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
  if (host) await new Promise((r) => host!.server.close(r));
  host = null;
});

function client(url: string, options: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}): HttpClient {
  const c = new HttpClient({ platform: 'zendesk', baseUrl: url, headers: { authorization: 'Basic ZG93bmxvYWQtc2VjcmV0' }, ...options });
  closers.push(() => c.close());
  return c;
}

describe('HttpClient.download', () => {
  it('retries a download answered 503 with Retry-After once the server’s wait has passed', async () => {
    const h = await fileHost([{ status: 503, headers: { 'retry-after': '1' } }]);
    const started = Date.now();
    const file = await client(h.url).download('/attachments/token/abc/file.png');
    expect(Buffer.from(file.body)).toEqual(BYTES);
    expect(file.contentType).toBe('image/png');
    expect(h.hits).toHaveLength(2);
    expect(h.hits[1].at - started).toBeGreaterThanOrEqual(950);
  });

  it('waits out 429s by their Retry-After without spending the attempts a failure has', async () => {
    const h = await fileHost([
      { status: 429, headers: { 'retry-after': '1' } },
      { status: 429, headers: { 'retry-after': '0' } },
      { status: 429, headers: { 'retry-after': '0' } },
    ]);
    const c = client(h.url, { maxAttempts: 1 });
    const started = Date.now();
    const file = await c.download('/attachments/token/abc/file.png');
    expect(Buffer.from(file.body)).toEqual(BYTES);
    expect(h.hits).toHaveLength(4);
    expect(h.hits[1].at - started).toBeGreaterThanOrEqual(950);
    expect(c.stats.rateLimited).toBe(3);
  });

  it('holds the client’s other requests while a download’s 429 is waited out: the limit is the account’s', async () => {
    const h = await fileHost([{ status: 429, headers: { 'retry-after': '1' } }]);
    const c = client(h.url);
    const download = c.download('/attachments/token/abc/file.png');
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await c.send({ path: '/api/v2/groups.json', okStatuses: [200] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    await download;
  });

  it('gives up after the client’s maxAttempts 5xx answers, as ATTACHMENT_FAILED that stays retryable', async () => {
    const h = await fileHost(Array.from({ length: 10 }, () => ({ status: 502 })));
    const err = await client(h.url, { maxAttempts: 3 })
      .download('/attachments/token/abc/file.png', { what: 'attachment 7 (file.png)', context: { recordId: '7' } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ATTACHMENT_FAILED', retryable: true, context: { platform: 'zendesk', httpStatus: 502, recordId: '7' } });
    expect((err as Error).message).toContain('attachment 7 (file.png)');
    expect(h.hits).toHaveLength(3);
  });

  it('fails a 404 at once, and names no credential the server echoed', async () => {
    const h = await fileHost([{ status: 404, body: 'no file for Basic ZG93bmxvYWQtc2VjcmV0' }]);
    const err = await client(h.url).download('/attachments/token/abc/file.png').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ATTACHMENT_FAILED', retryable: false, context: { httpStatus: 404 } });
    expect(JSON.stringify(err) + (err as Error).message).not.toContain('ZG93bmxvYWQtc2VjcmV0');
    expect(h.hits).toHaveLength(1);
  });
});

describe('connector attachment downloads go through the client’s retry policy', () => {
  // Regression: the Zendesk download had its own loop that counted each 429 as a failed attempt.
  it('zendesk: a content_url answered 429 beyond maxAttempts still downloads, with the credentials on the API origin', async () => {
    const h = await fileHost([...Array.from({ length: 7 }, () => ({ status: 429, headers: { 'retry-after': '0' } })), { status: 503, headers: { 'retry-after': '0' } }]);
    const zd = new ZendeskClient({ url: h.url, credentials: { email: 'a@example.com', apiToken: 'tok-dl' }, maxAttempts: 2 });
    closers.push(() => zd.close());
    const file = await zd.download(`${h.url}/attachments/token/abc/?name=file.png`);
    expect(Buffer.from(file.body)).toEqual(BYTES);
    expect(h.hits).toHaveLength(9);
    expect(h.hits.every((hit) => String(hit.headers.authorization).startsWith('Basic '))).toBe(true);
  });

  // Regression: the Freshdesk download had its own loop with a fixed six attempts, whatever the connector's maxAttempts.
  it('freshdesk: a pre-signed link answered 503 is retried up to the connector’s maxAttempts, without the API key', async () => {
    const h = await fileHost(Array.from({ length: 10 }, () => ({ status: 503, headers: { 'retry-after': '0' } })));
    const fd = new FreshdeskConnector({ url: 'http://127.0.0.1:9', credentials: { apiKey: 'fd-key' }, maxAttempts: 3 });
    closers.push(() => fd.close());
    const attachment = { sourceId: '55', fileName: 'file.png', contentType: 'image/png', size: BYTES.length, url: `${h.url}/store/55?X-Amz-Signature=sig` };
    const err = await fd.openAttachment(attachment as Parameters<typeof fd.openAttachment>[0]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ATTACHMENT_FAILED', retryable: true, context: { platform: 'freshdesk', recordId: '55', httpStatus: 503 } });
    expect(h.hits).toHaveLength(3);
    expect(h.hits.some((hit) => hit.headers.authorization !== undefined)).toBe(false);
  });

  it('freshdesk: a pre-signed link answered 503 once then the file downloads', async () => {
    const h = await fileHost([{ status: 503, headers: { 'retry-after': '1' } }]);
    const fd = new FreshdeskConnector({ url: 'http://127.0.0.1:9', credentials: { apiKey: 'fd-key' } });
    closers.push(() => fd.close());
    const started = Date.now();
    const attachment = { sourceId: '56', fileName: 'file.png', contentType: 'image/png', size: BYTES.length, url: `${h.url}/store/56?X-Amz-Signature=sig` };
    const file = await fd.openAttachment(attachment as Parameters<typeof fd.openAttachment>[0]);
    expect(Buffer.from(file.body)).toEqual(BYTES);
    expect(h.hits).toHaveLength(2);
    expect(h.hits[1].at - started).toBeGreaterThanOrEqual(950);
  });
});
