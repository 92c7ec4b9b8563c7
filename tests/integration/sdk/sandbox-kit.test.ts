import { afterEach, describe, expect, it } from 'vitest';
import { BucketLimiter, type LimitTable, withLimits } from '../../../connectors/sdk/limits.ts';
import { HttpError, type KitHandler, type KitRequest, type KitServer, type Reply, Router, startKitServer } from '../../../connectors/sdk/sandbox-kit/index.ts';

// Integration: the shared sandbox core over real HTTP, with a tiny platform declared as data — a route
// table, a limit table (plan bucket counting credits, an endpoint bucket, an in-flight job cap) and a guard.

const TABLE: LimitTable = {
  platform: 'kit-test',
  plan: 'small',
  addOns: [],
  sources: [],
  buckets: [
    {
      name: 'account',
      description: 'credits per minute (plan)',
      matches: [{ method: '*', path: '/api/**' }],
      limit: 10,
      windowSeconds: 60,
      countsCredits: true,
      headers: { 'x-total': '{limit}', 'x-remaining': '{remaining}', 'x-cost': '{cost}' },
    },
    {
      name: 'items-list',
      description: 'item list requests per minute (endpoint)',
      matches: [{ method: 'GET', path: '/api/items' }],
      limit: 3,
      windowSeconds: 60,
      headers: { 'x-items-remaining': '{remaining}' },
      refusal: { body: { error: 'ItemsListLimit' } },
    },
    {
      name: 'jobs-in-flight',
      description: 'jobs running at once',
      matches: [{ method: 'POST', path: '/api/jobs' }],
      limit: 2,
      kind: 'concurrent',
      windowSeconds: 3600,
      headers: { 'x-jobs': 'remaining={remaining}' },
      refusal: { body: { error: 'TooManyJobs' } },
    },
  ],
  credits: { queryParam: 'include', perValue: 2 },
  refusal: { body: 'Too many requests' },
};

interface Ctx extends KitRequest {
  params: string[];
}

let server: KitServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

async function start(table: LimitTable = TABLE) {
  const limiter = new BucketLimiter(table);
  const jobs = new Map<string, string>();
  let nextJob = 0;
  const routes = new Router<KitHandler<Ctx>>({ id: '\\d+' });
  const route = (method: string, pattern: string, handler: (ctx: Ctx) => ReturnType<KitHandler<Ctx>>) =>
    routes.add(method, pattern, (ctx, m) => handler(Object.assign(ctx, { params: m.slice(1) })));
  route('GET', '/api/items/count', () => ({ body: { count: 3 } }));
  route('GET', '/api/items/:id', (ctx) => ({ body: { item: { id: Number(ctx.params[0]) } } }));
  route('GET', '/api/items/:name', (ctx) => ({ body: { named: ctx.params[0] } }));
  route('GET', '/api/items', (ctx) => {
    ctx.res.setHeader('link', '<next>; rel="next"');
    if (ctx.query.get('fail') === 'http') throw new HttpError(422, { error: 'Invalid' });
    if (ctx.query.get('fail') === 'crash') throw new Error('boom');
    return { body: { items: [1, 2, 3] } };
  });
  route('GET', '/api/things', () => ({ body: { things: [] } }));
  route('POST', '/api/jobs', (ctx) => {
    if (ctx.query.get('fail')) throw new HttpError(422, { error: 'Invalid' });
    const id = `j${++nextJob}`;
    jobs.set(id, 'queued');
    return { body: { job: { id, status: 'queued' } } };
  });
  route('PUT', '/api/jobs/:id', () => ({ status: 204 }));
  route('GET', '/api/jobs/:job', (ctx) => ({ body: { job: { id: ctx.params[0], status: 'completed' } } }));
  const s: KitServer = await startKitServer<Ctx>({
    routes,
    limiter: () => limiter,
    context: (base) => ({ ...base, params: [] }),
    control: { prefix: '/__control/', handle: (ctx): Reply => ({ body: { pending: s.faults.pending(), path: ctx.path } }) },
    outside: (ctx) => (ctx.path.startsWith('/api/') ? undefined : { status: 404, body: null }),
    apiHeaders: { 'x-kit': 'yes' },
    faultBody: (status) => (status === 429 ? { error: 'Injected429' } : { error: 'Injected', status }),
    guard: (ctx) => (ctx.req.headers.authorization === 'Bearer ok' ? undefined : { status: 401, body: { error: 'Unauthorized' } }),
    noRoute: (_ctx, allowed) => (allowed.length ? { status: 405, body: { error: 'MethodNotAllowed', allowed } } : { status: 404, body: { error: 'NoRoute' } }),
    internalError: (err) => ({ error: 'Internal', message: err.message }),
    jobs: {
      started: (reply) => (reply.body as { job?: { id: string; status: string } } | undefined)?.job?.status === 'queued' ? (reply.body as { job: { id: string } }).job.id : undefined,
      finished: (reply) => {
        const job = (reply.body as { job?: { id: string; status: string } } | undefined)?.job;
        return job && job.status === 'completed' ? [job.id] : [];
      },
    },
  });
  server = s;
  return { s, limiter };
}

async function call(path: string, init: { method?: string; auth?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (init.auth !== null) headers.authorization = init.auth ?? 'Bearer ok';
  const res = await fetch(`${server!.url}${path}`, { method: init.method ?? 'GET', headers });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, body, headers: res.headers };
}

describe('the sandbox kit limiter over HTTP', () => {
  it('charges the plan bucket in credits and the endpoint bucket per request, refusing with the bucket\'s own body and Retry-After', async () => {
    const { limiter } = await start();
    for (const remaining of [2, 1, 0]) {
      const ok = await call('/api/items');
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-items-remaining')).toBe(String(remaining));
      expect(ok.headers.get('x-remaining')).toBe(String(7 + remaining));
      expect(ok.headers.get('x-cost')).toBe('1');
    }
    const refused = await call('/api/items');
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: 'ItemsListLimit' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get('x-kit')).toBe('yes');

    // The refusal charged nothing: the plan bucket still has 7 credits; `include=a,b` costs 1 + 2 × 2.
    const costly = await call('/api/things?include=a,b');
    expect(costly.status).toBe(200);
    expect(costly.headers.get('x-cost')).toBe('5');
    expect(costly.headers.get('x-remaining')).toBe('2');
    const over = await call('/api/things?include=a');
    expect(over.status).toBe(429);
    expect(over.body).toBe('Too many requests');
    expect(over.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(over.headers.get('x-cost')).toBe('3');
    expect((await call('/api/things')).status).toBe(200);
    expect(limiter.stats()).toMatchObject({ account: { admitted: 5, refused: 1, credits: 9 }, 'items-list': { admitted: 3, refused: 1 } });
    expect(server!.rateLimited()).toBe(2);
  });

  it('caps jobs in flight: a hold lasts from the answer that queued a job until the job is seen finished, and a failed request gives its hold back', async () => {
    const { limiter } = await start();
    expect((await call('/api/jobs?fail=1', { method: 'POST' })).status).toBe(422);
    expect(limiter.inFlight('jobs-in-flight')).toBe(0);
    const first = await call('/api/jobs', { method: 'POST' });
    expect(first.headers.get('x-jobs')).toBe('remaining=1');
    const second = await call('/api/jobs', { method: 'POST' });
    expect(second.headers.get('x-jobs')).toBe('remaining=0');
    const third = await call('/api/jobs', { method: 'POST' });
    expect(third.status).toBe(429);
    expect(third.body).toEqual({ error: 'TooManyJobs' });
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limiter.inFlight('jobs-in-flight')).toBe(2);

    const job = (first.body as { job: { id: string } }).job.id;
    expect((await call(`/api/jobs/${job}`)).body).toEqual({ job: { id: job, status: 'completed' } });
    expect(limiter.inFlight('jobs-in-flight')).toBe(1);
    expect((await call('/api/jobs', { method: 'POST' })).status).toBe(200);
    // A request refused by the guard takes no slot either.
    expect((await call('/api/jobs', { method: 'POST', auth: null })).status).toBe(429);
    expect(limiter.inFlight('jobs-in-flight')).toBe(2);
  });
});

describe('the sandbox kit fault queue', () => {
  it('answers the next requests with the injected statuses in order, before the limiter and the guard, with Retry-After', async () => {
    const { limiter } = await start();
    server!.faults.push({ status: 503, count: 2, retryAfterSeconds: 7 });
    server!.faults.push({ status: 500, count: 1 });
    server!.faults.push({ status: 429, count: 1 });
    server!.faults.push({ status: 502, count: 0 });
    // Control requests neither consume nor count.
    expect((await call('/__control/state')).body).toEqual({ pending: 4, path: '/__control/state' });
    const got = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('/api/things', { auth: null });
      got.push([r.status, r.headers.get('retry-after'), r.body]);
    }
    expect(got).toEqual([
      [503, '7', { error: 'Injected', status: 503 }],
      [503, '7', { error: 'Injected', status: 503 }],
      [500, null, { error: 'Injected', status: 500 }],
      [429, '1', { error: 'Injected429' }],
      [401, null, { error: 'Unauthorized' }],
    ]);
    expect(server!.faults.pending()).toBe(0);
    expect(server!.served()).toBe(5);
    expect(server!.rateLimited()).toBe(1);
    // Only the last request reached the limiter.
    expect(limiter.stats().account).toMatchObject({ admitted: 1 });
  });
});

describe('the sandbox kit router', () => {
  it('takes the first declared route of the method, tells 405 from 404, and maps thrown errors to their answers', async () => {
    await start(withLimits(TABLE, { 'items-list': null }));
    expect((await call('/api/items/count')).body).toEqual({ count: 3 });
    expect((await call('/api/items/12')).body).toEqual({ item: { id: 12 } });
    expect((await call('/api/items/blue')).body).toEqual({ named: 'blue' });
    expect((await call('/api/items/', {})).body).toEqual({ items: [1, 2, 3] });
    const wrongMethod = await call('/api/items/12', { method: 'DELETE' });
    expect(wrongMethod).toMatchObject({ status: 405, body: { error: 'MethodNotAllowed', allowed: ['GET'] } });
    expect((await call('/api/nothing')).body).toEqual({ error: 'NoRoute' });
    expect((await call('/elsewhere')).status).toBe(404);

    const ok = await call('/api/items');
    expect(ok.headers.get('link')).toBe('<next>; rel="next"');
    expect(ok.headers.get('x-remaining')).not.toBeNull();
    const failed = await call('/api/items?fail=http');
    expect(failed).toMatchObject({ status: 422, body: { error: 'Invalid' } });
    expect(failed.headers.get('link')).toBeNull();
    expect(failed.headers.get('x-remaining')).not.toBeNull();
    expect(await call('/api/items?fail=crash')).toMatchObject({ status: 500, body: { error: 'Internal', message: 'boom' } });
    // Refused by the guard: no rate-limit headers unless the guard puts them there.
    const denied = await call('/api/things', { auth: 'Bearer wrong' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('x-remaining')).toBeNull();
    expect([...server!.servedByRoute()]).toEqual([
      ['GET /api/items/count', 1],
      ['GET /api/items/:id', 1],
      ['GET /api/items/:name', 1],
      ['GET /api/items', 4],
    ]);
    expect(server!.servedByPath().get('GET /api/items/:id')).toBe(1);
    expect(server!.servedByPath().get('DELETE /api/items/:id')).toBe(1);
  });
});
