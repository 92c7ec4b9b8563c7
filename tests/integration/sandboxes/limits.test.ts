import { afterEach, describe, expect, it } from 'vitest';
import { startFreshdeskSandbox, type FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import { startZendeskSandbox, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { sandboxCommand } from '../../../services/cli/commands.ts';

// Integration: the sandboxes enforce the platforms' documented limit tables over HTTP.
// Sources (cited per test):
//  Zendesk "Rate limits" https://developer.zendesk.com/api-reference/introduction/rate-limits/
//  Zendesk "Incremental Exports" → Rate limits
//  Freshdesk API v2 reference "Rate Limit" https://developers.freshdesk.com/api/#ratelimit and List All Tickets / View a Ticket (include credits)

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function zendesk(options: Parameters<typeof startZendeskSandbox>[0]): Promise<ZendeskSandbox> {
  const sb = await startZendeskSandbox(options);
  open.push(sb);
  return sb;
}

async function freshdesk(options: Parameters<typeof startFreshdeskSandbox>[0]): Promise<FreshdeskSandbox> {
  const sb = await startFreshdeskSandbox(options);
  open.push(sb);
  await sb.ready;
  return sb;
}

const zdAuth = (sb: ZendeskSandbox) => `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
const fdAuth = (sb: FreshdeskSandbox) => `Basic ${Buffer.from(`${sb.apiKey}:X`).toString('base64')}`;

async function call(url: string, auth: string, method = 'GET', body?: unknown): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // plain-text bodies stay text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Runs `count` calls, `width` at a time, and returns their statuses in order. */
async function burst(count: number, width: number, one: (i: number) => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        statuses[i] = (await one(i)).status;
      }
    }),
  );
  return statuses;
}

describe('Freshdesk sandbox limits (API v2 reference, "Rate Limit")', () => {
  it('refuses ticket creates past the Enterprise endpoint limit of 280 while ticket reads still pass', async () => {
    const sb = await freshdesk({ tickets: 3, seed: 5 });
    const auth = fdAuth(sb);
    const statuses = await burst(281, 8, (i) =>
      call(`${sb.url}/api/v2/tickets`, auth, 'POST', { email: `limit${i}@example.com`, subject: `create ${i}`, description: 'x', status: 2, priority: 1 }),
    );
    expect(statuses.filter((s) => s === 201).length).toBe(280);
    expect(statuses.filter((s) => s === 429).length).toBe(1);
    const refused = await call(`${sb.url}/api/v2/tickets`, auth, 'POST', { email: 'late@example.com', subject: 'late', description: 'x', status: 2, priority: 1 });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // The account (700 per minute) still has room: a read and a list pass.
    const read = await call(`${sb.url}/api/v2/tickets/1`, auth);
    expect(read.status).toBe(200);
    expect(Number(read.headers.get('x-ratelimit-remaining'))).toBe(700 - 280 - 1);
    expect((await call(`${sb.url}/api/v2/tickets`, auth)).status).toBe(200);
  });

  it('charges an include 2 more credits on List All Tickets and 1 more on View a Ticket, reported in X-RateLimit-Used-CurrentRequest and counted in the remaining', async () => {
    // API v2 reference, Tickets › List All Tickets: "Each include will consume an additional 2 credits" (with
    // `stats`, 3 for the call). Tickets › View a Ticket: each include one more credit (with `requester` and
    // `company`, 3 for the call). Every include value each route documents, one at a time and all together.
    const sb = await freshdesk({ tickets: 3, seed: 6 });
    const auth = fdAuth(sb);
    const plain = await call(`${sb.url}/api/v2/tickets/1`, auth);
    expect(plain.headers.get('x-ratelimit-used-currentrequest')).toBe('1');
    expect(plain.headers.get('x-ratelimit-total')).toBe('700');
    expect(plain.headers.get('x-ratelimit-remaining')).toBe('699');
    let remaining = 699;
    const charged = async (path: string, credits: number) => {
      const res = await call(`${sb.url}${path}`, auth);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-ratelimit-used-currentrequest'), path).toBe(String(credits));
      remaining -= credits;
      expect(res.headers.get('x-ratelimit-remaining'), path).toBe(String(remaining));
      return res.body as Record<string, unknown>;
    };
    for (const include of ['conversations', 'requester', 'company', 'stats']) expect(await charged(`/api/v2/tickets/1?include=${include}`, 2)).toHaveProperty(include);
    await charged('/api/v2/tickets/1?include=requester,company', 3);
    await charged('/api/v2/tickets/1?include=conversations,requester,company,stats', 5);
    const embedded = (await charged('/api/v2/tickets/1?include=conversations', 2)).conversations as unknown[];
    expect(embedded.length).toBeLessThanOrEqual(10);
    for (const include of ['requester', 'stats', 'description']) await charged(`/api/v2/tickets?include=${include}`, 3);
    await charged('/api/v2/tickets?include=requester,stats,description', 7);
    await charged('/api/v2/tickets', 1);
  });

  it('refuses a request whose credits no longer fit although a plain one would, with Retry-After', async () => {
    const sb = await freshdesk({ tickets: 2, seed: 7, requestsPerMinute: 6 });
    const auth = fdAuth(sb);
    expect((await call(`${sb.url}/api/v2/tickets?include=requester`, auth)).status).toBe(200); // 3 credits
    const refused = await call(`${sb.url}/api/v2/tickets?include=stats,requester`, auth); // 5 more: over 6
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('3');
    expect((await call(`${sb.url}/api/v2/tickets/1?include=stats,company`, auth)).status).toBe(200); // 3 credits: fits
    expect(sb.rateLimited()).toBe(1);
  });

  it('enforces the plan asked for: a trial account has 50 per minute and no endpoint limits', async () => {
    const sb = await freshdesk({ tickets: 1, seed: 8, plan: 'trial', rateLimitWindowMs: 30_000 });
    const auth = fdAuth(sb);
    const first = await call(`${sb.url}/api/v2/tickets`, auth);
    expect(first.headers.get('x-ratelimit-total')).toBe('50');
    expect(sb.limits.buckets.map((b) => b.name)).toEqual(['account']);
    const statuses = await burst(50, 5, () => call(`${sb.url}/api/v2/groups`, auth));
    expect(statuses.filter((s) => s === 429).length).toBe(1);
    const growth = await freshdesk({ tickets: 1, seed: 8, plan: 'growth' });
    expect((await call(`${growth.url}/api/v2/groups`, fdAuth(growth))).headers.get('x-ratelimit-total')).toBe('200');
  });

  it('refuses Contacts List past 20 and Ticket Update past 80 on a Growth account, each on its own bucket', async () => {
    // "Rate Limit": Growth per-endpoint limits (Contacts List 20, Ticket Update 80 a minute).
    const sb = await freshdesk({ tickets: 1, seed: 10, plan: 'growth' });
    const auth = fdAuth(sb);
    const contacts = await burst(21, 4, () => call(`${sb.url}/api/v2/contacts`, auth));
    expect(contacts.filter((s) => s === 429).length).toBe(1);
    expect(sb.limitStats()['contacts-list'].refused).toBe(1);
    const created = await call(`${sb.url}/api/v2/tickets`, auth, 'POST', { subject: 's', description: 'd', email: 'limits@example.com', priority: 1, status: 2 });
    expect(created.status).toBe(201);
    const ticket = (created.body as { id: number }).id;
    const updates = await burst(81, 4, (i) => call(`${sb.url}/api/v2/tickets/${ticket}`, auth, 'PUT', { tags: [`t${i}`] }));
    expect(updates.filter((s) => s === 429).length).toBe(1);
    expect(sb.limitStats()['ticket-update'].refused).toBe(1);
    expect((await call(`${sb.url}/api/v2/tickets/${ticket}`, auth)).status).toBe(200);
  });

  it('refuses Tickets List on its own bucket (Growth: 20 a minute) while contacts still list, and again admits after the window', async () => {
    // The test shrinks the minute to one second.
    const sb = await freshdesk({ tickets: 1, seed: 9, plan: 'growth', rateLimitWindowMs: 1000 });
    const auth = fdAuth(sb);
    let refused: Awaited<ReturnType<typeof call>> | null = null;
    let admitted = 0;
    for (let i = 0; i < 60 && !refused; i++) {
      const res = await call(`${sb.url}/api/v2/tickets`, auth);
      if (res.status === 429) refused = res;
      else admitted += 1;
    }
    expect(refused?.status).toBe(429);
    expect(admitted).toBeGreaterThanOrEqual(20);
    expect(refused!.headers.get('retry-after')).toBe('1');
    expect(refused!.body).toEqual({ description: 'You have exceeded the limit of requests per minute' });
    expect((await call(`${sb.url}/api/v2/contacts`, auth)).status).toBe(200);
    expect(sb.limitStats()['tickets-list'].refused).toBe(1);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await call(`${sb.url}/api/v2/tickets`, auth)).status).toBe(200);
  });
});

describe('Zendesk sandbox limits ("Rate limits")', () => {
  it('reports the account limit in x-rate-limit and ratelimit-*, and List Tickets in zendesk-ratelimit-tickets-index', async () => {
    const sb = await zendesk({ tickets: 3, seed: 3 });
    const res = await call(`${sb.url}/api/v2/tickets.json`, zdAuth(sb));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-rate-limit')).toBe('700');
    expect(res.headers.get('x-rate-limit-remaining')).toBe('699');
    expect(res.headers.get('ratelimit-limit')).toBe('700');
    expect(res.headers.get('ratelimit-remaining')).toBe('699');
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect(res.headers.get('zendesk-ratelimit-tickets-index')).toMatch(/^total=100; remaining=99; resets=\d+$/);
    const groups = await call(`${sb.url}/api/v2/groups.json`, zdAuth(sb));
    expect(groups.headers.get('zendesk-ratelimit-tickets-index')).toBeNull();
  });

  it('refuses List Tickets past 100 a minute while other reads pass', async () => {
    const sb = await zendesk({ tickets: 3, seed: 4 });
    const auth = zdAuth(sb);
    const statuses = await burst(101, 8, () => call(`${sb.url}/api/v2/tickets.json`, auth));
    expect(statuses.filter((s) => s === 429).length).toBe(1);
    const refused = await call(`${sb.url}/api/v2/tickets.json`, auth);
    expect(refused.status).toBe(429);
    expect(refused.body).toBe('Number of allowed API requests per minute exceeded');
    expect(refused.headers.get('zendesk-ratelimit-tickets-index')).toMatch(/^total=100; remaining=0; resets=\d+$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(`${sb.url}/api/v2/tickets/1.json`, auth)).status).toBe(200);
    expect((await call(`${sb.url}/api/v2/groups.json`, auth)).status).toBe(200);
  });

  it('refuses List Tickets offset pages past 500 after 50 a minute while shallow pages still list', async () => {
    // "Rate limits" → "Rate limits for specific endpoints" (List Tickets: 50 requests per minute past page 500).
    const sb = await zendesk({ tickets: 3, seed: 11 });
    const auth = zdAuth(sb);
    const statuses = await burst(51, 8, () => call(`${sb.url}/api/v2/tickets.json?page=501`, auth));
    // "Comparing cursor pagination and offset pagination" → "Offset pagination limit": offset pages stop at 100
    // (400 InvalidPaginationParameter), yet such a request is still drawn from the deep-page bucket, checked first.
    expect(statuses.filter((s) => s === 400).length).toBe(50);
    expect(statuses.filter((s) => s === 429).length).toBe(1);
    const refused = await call(`${sb.url}/api/v2/tickets.json?page=600`, auth);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Page 500 itself and the first pages draw only from List Tickets' 100 a minute.
    expect((await call(`${sb.url}/api/v2/tickets.json?page=500`, auth)).status).toBe(400);
    expect((await call(`${sb.url}/api/v2/tickets.json`, auth)).status).toBe(200);
  });

  it('limits updates of one ticket to 30 per 10 minutes while other tickets update', async () => {
    // "Update Ticket": 30 updates per 10 minutes per user per ticket.
    const sb = await zendesk({ tickets: 0, seed: 5 });
    const auth = zdAuth(sb);
    // Closed tickets refuse updates; these two are new, so open.
    const [one, two] = [sb.createTicket({ subject: 'one' }).id, sb.createTicket({ subject: 'two' }).id];
    const statuses = await burst(31, 4, (i) => call(`${sb.url}/api/v2/tickets/${one}.json`, auth, 'PUT', { ticket: { tags: [`t${i}`] } }));
    expect(statuses.filter((s) => s === 200).length).toBe(30);
    expect(statuses.filter((s) => s === 429).length).toBe(1);
    const refused = await call(`${sb.url}/api/v2/tickets/${one}.json`, auth, 'PUT', { ticket: { tags: ['late'] } });
    expect(refused.status).toBe(429);
    // The per-ticket window is ten minutes long.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
    expect((await call(`${sb.url}/api/v2/tickets/${two}.json`, auth, 'PUT', { ticket: { tags: ['other'] } })).status).toBe(200);
  });

  it('refuses a 31st job in flight with TooManyJobs until a job is seen finished', async () => {
    // "Job limit": at most 30 jobs queued or running; header zendesk-ratelimit-inflight-jobs.
    const sb = await zendesk({ tickets: 1, seed: 6 });
    const auth = zdAuth(sb);
    const requester = sb.store.owner.id;
    const jobIds: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await call(`${sb.url}/api/v2/imports/tickets/create_many.json`, auth, 'POST', { tickets: [{ subject: `job ${i}`, description: 'x', requester_id: requester }] });
      expect(res.status).toBe(200);
      expect(res.headers.get('zendesk-ratelimit-inflight-jobs')).toMatch(new RegExp(`^total=30; remaining=${29 - i}; resets=\\d+$`));
      jobIds.push((res.body as { job_status: { id: string } }).job_status.id);
    }
    const refused = await call(`${sb.url}/api/v2/imports/tickets/create_many.json`, auth, 'POST', { tickets: [{ subject: 'one too many', description: 'x', requester_id: requester }] });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'TooManyJobs' });
    expect(refused.headers.get('zendesk-ratelimit-inflight-jobs')).toMatch(/^total=30; remaining=0; resets=\d+$/);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    // Other requests are not held up by the job cap.
    expect((await call(`${sb.url}/api/v2/groups.json`, auth)).status).toBe(200);
    const status = await call(`${sb.url}/api/v2/job_statuses/${jobIds[0]}.json`, auth);
    expect((status.body as { job_status: { status: string } }).job_status.status).toBe('completed');
    const again = await call(`${sb.url}/api/v2/imports/tickets/create_many.json`, auth, 'POST', { tickets: [{ subject: 'room again', description: 'x', requester_id: requester }] });
    expect(again.status).toBe(200);
  });

  it('answers export 429s with APIRateLimitExceeded after 10 a minute, while the account still admits', async () => {
    // "Incremental Exports" → Rate limits: 10 requests per minute.
    const sb = await zendesk({ tickets: 2, seed: 7 });
    const auth = zdAuth(sb);
    const start = Math.floor(Date.now() / 1000) - 3600;
    const statuses = await burst(11, 1, () => call(`${sb.url}/api/v2/incremental/organizations.json?start_time=${start}`, auth));
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses[10]).toBe(429);
    const refused = await call(`${sb.url}/api/v2/incremental/users/cursor.json?start_time=${start}`, auth);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'APIRateLimitExceeded' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(`${sb.url}/api/v2/groups.json`, auth)).status).toBe(200);
  });

  it('counts Help Center requests apart from the Support API', async () => {
    const sb = await zendesk({ tickets: 2, seed: 8, requestsPerMinute: 3 });
    const auth = zdAuth(sb);
    expect(await burst(4, 1, () => call(`${sb.url}/api/v2/groups.json`, auth))).toEqual([200, 200, 200, 429]);
    const hc = await call(`${sb.url}/api/v2/help_center/en-us/articles.json`, auth);
    expect(hc.status).toBe(200);
    expect(hc.headers.get('x-rate-limit')).toBe('3');
    expect(hc.headers.get('x-rate-limit-remaining')).toBe('2');
  });

  it('changes the account limit with the plan and the High Volume add-on; --rpm overrides it', async () => {
    const limitOf = async (options: Parameters<typeof startZendeskSandbox>[0]) => {
      const sb = await zendesk({ seed: 9, ...options });
      return (await call(`${sb.url}/api/v2/groups.json`, zdAuth(sb))).headers.get('x-rate-limit');
    };
    expect(await limitOf({ plan: 'team' })).toBe('200');
    expect(await limitOf({ plan: 'growth' })).toBe('400');
    expect(await limitOf({ plan: 'professional', highVolume: true })).toBe('2500');
    expect(await limitOf({ plan: 'enterprise-plus' })).toBe('2500');
    expect(await limitOf({ plan: 'team', requestsPerMinute: 42 })).toBe('42');
    await expect(zendesk({ plan: 'team', highVolume: true })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('keeps the shrunken test window (rateWindowSeconds) for every bucket', async () => {
    const sb = await zendesk({ tickets: 1, seed: 10, requestsPerMinute: 2, rateWindowSeconds: 1 });
    const auth = zdAuth(sb);
    expect(await burst(3, 1, () => call(`${sb.url}/api/v2/groups.json`, auth))).toEqual([200, 200, 429]);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await call(`${sb.url}/api/v2/groups.json`, auth)).status).toBe(200);
  });
});

describe('hdm sandbox --plan', () => {
  it('prints the limits it enforces at start, as a table and in --json', async () => {
    const lines: string[] = [];
    const io = { out: (t: string) => lines.push(t), err: () => {} };
    open.push(await sandboxCommand('freshdesk', { port: 0, host: '127.0.0.1', tickets: 0, seed: 1, plan: 'pro' }, io));
    const text = lines.join('\n');
    expect(text).toMatch(/freshdesk pro/);
    expect(text).toMatch(/account\s+400 credits \/ 1 min/);
    expect(text).toMatch(/ticket-create\s+160 \/ 1 min\s+POST \/api\/v2\/tickets/);
    lines.length = 0;
    open.push(await sandboxCommand('zendesk', { port: 0, host: '127.0.0.1', tickets: 0, seed: 1, plan: 'growth', highVolume: true, json: true }, io));
    const json = JSON.parse(lines[0]) as { limits: { plan: string; addOns: string[]; buckets: { name: string; limit: number }[] } };
    expect(json.limits.plan).toBe('growth');
    expect(json.limits.addOns).toEqual(['high-volume']);
    expect(json.limits.buckets.find((b) => b.name === 'account')!.limit).toBe(2500);
    expect(json.limits.buckets.find((b) => b.name === 'incremental-exports')!.limit).toBe(30);
  });
});
