import { afterEach, describe, expect, it } from 'vitest';
import { downloadOnce } from '../../../connectors/sdk/download.ts';
import { HttpClient } from '../../../connectors/sdk/http.ts';
import { zendesk, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { faultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';

// Integration: the SDK's HTTP client and downloads against a Zendesk sandbox, through a fault-injecting proxy.
let sb: ZendeskSandbox;
let proxy: FaultProxy;
let client: HttpClient | null = null;

async function setUp(options: ConstructorParameters<typeof HttpClient>[0] extends infer O ? Partial<O> : never = {}) {
  sb = await zendesk.startSandbox({ tickets: 3, seed: 71 });
  proxy = await faultProxy(sb.url);
  const authorization = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
  client = new HttpClient({ platform: 'zendesk', baseUrl: proxy.url, headers: { authorization }, ...options });
  return client;
}

afterEach(async () => {
  await client?.close().catch(() => undefined);
  client = null;
  await proxy?.close();
  await sb?.close();
});

describe('HttpClient', () => {
  it('retries a 200 page whose JSON body was cut short, instead of returning it as text', async () => {
    const c = await setUp();
    proxy.add({ path: /groups\.json/, times: 1, fault: { kind: 'truncate' } });
    const res = await c.get<{ groups: unknown[] }>('/api/v2/groups.json');
    expect(Array.isArray(res.body.groups)).toBe(true);
    expect(res.body.groups.length).toBeGreaterThan(0);
    expect(proxy.hits(/groups\.json/)).toBe(2);
  });

  it('refuses an answer larger than its response size limit instead of reading it into memory', async () => {
    const c = await setUp({ maxResponseBytes: 4096 });
    proxy.add({ path: /groups\.json/, times: 1, fault: { kind: 'answer', status: 200, body: { groups: [], padding: 'x'.repeat(100_000) } } });
    const err = await c.get('/api/v2/groups.json').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_RESPONSE', retryable: false, context: { platform: 'zendesk', method: 'GET', path: '/api/v2/groups.json' } });
    expect(String((err as Error).message)).toContain('more than 4096 bytes');
    expect(proxy.hits(/groups\.json/)).toBe(1);
  });

  it('fails loudly with BAD_RESPONSE naming platform, method and path when every answer is cut short', async () => {
    const c = await setUp({ maxAttempts: 3 });
    proxy.add({ path: /groups\.json/, fault: { kind: 'truncate' } });
    const err = await c.get('/api/v2/groups.json').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_RESPONSE', context: { platform: 'zendesk', method: 'GET', path: '/api/v2/groups.json', httpStatus: 200 } });
    expect((err as Error).message).toMatch(/zendesk GET \/api\/v2\/groups\.json .*does not parse/);
    expect(proxy.hits(/groups\.json/)).toBe(3);
  });

  it('ends a response that trickles one byte at a time at its deadline, though it is never silent', async () => {
    const c = await setUp({ deadlineMs: 1500, maxAttempts: 2 });
    proxy.add({ path: /groups\.json/, fault: { kind: 'trickle', everyMs: 200 } });
    const started = Date.now();
    await expect(c.get('/api/v2/groups.json')).rejects.toMatchObject({ code: 'TIMEOUT', context: { path: '/api/v2/groups.json' } });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(proxy.hits(/groups\.json/)).toBe(2);
  });

  it('honours a stop request within a second while a request never answers', async () => {
    const stop = new AbortController();
    const c = await setUp({ signal: stop.signal });
    proxy.add({ path: /groups\.json/, fault: { kind: 'hang' } });
    const pending = c.get('/api/v2/groups.json').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    stop.abort();
    expect(await pending).toMatchObject({ code: 'INTERRUPTED', retryable: false });
    expect(Date.now() - asked).toBeLessThan(1000);
    await expect(c.get('/api/v2/groups.json')).rejects.toMatchObject({ code: 'INTERRUPTED' });
  });

  // Regression: a burst of 429s longer than maxAttempts made records fail as RATE_LIMITED.
  it('waits out 60 consecutive 429s, however few attempts it allows for failures', async () => {
    const c = await setUp({ maxAttempts: 3 });
    sb.injectFaults({ status: 429, count: 60, retryAfterSeconds: 0 });
    const res = await c.get<{ groups: unknown[] }>('/api/v2/groups.json');
    expect(res.body.groups.length).toBeGreaterThan(0);
    expect(c.stats.rateLimited).toBe(60);
  });

  it('gives up on 429s only once its patience is spent', async () => {
    const c = await setUp({ maxAttempts: 50, rateLimitPatienceMs: 1500 });
    sb.injectFaults({ status: 429, count: 100, retryAfterSeconds: 1 });
    const started = Date.now();
    await expect(c.get('/api/v2/groups.json')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('downloadOnce', () => {
  it('ends a download from a URL that never answers at its deadline', async () => {
    await setUp();
    proxy.add({ path: /never/, fault: { kind: 'hang' } });
    const started = Date.now();
    await expect(downloadOnce(`${proxy.url}/never/file.bin`, { platform: 'zendesk', deadlineMs: 1000 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses a body larger than its size limit', async () => {
    await setUp();
    proxy.add({ path: /big/, fault: { kind: 'answer', status: 200, body: 'x'.repeat(10_000) } });
    await expect(downloadOnce(`${proxy.url}/big/file.bin`, { platform: 'zendesk', maxBytes: 1000 })).rejects.toMatchObject({ code: 'ATTACHMENT_FAILED', retryable: false });
    const small = await downloadOnce(`${proxy.url}/api/v2/groups.json`, { platform: 'zendesk', maxBytes: 1_000_000 });
    expect(small.status).toBe(401);
  });

  it('stops a download that trickles forever when the run is stopped', async () => {
    await setUp();
    proxy.add({ path: /slow/, fault: { kind: 'trickle', everyMs: 100 } });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const started = Date.now();
    await expect(downloadOnce(`${proxy.url}/slow/api/v2/groups.json`, { platform: 'zendesk', signal: stop.signal })).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
