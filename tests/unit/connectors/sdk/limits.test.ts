import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BucketLimiter, bucketsFor, compileRoute, creditsOf, limitTableMarkdown, type LimitTable, withLimits } from '../../../../connectors/sdk/limits.ts';
import { FRESHDESK_PLANS, freshdeskLimits } from '../../../../connectors/freshdesk/freshdesk.limits.ts';
import { ZENDESK_PLANS, zendeskLimits } from '../../../../connectors/zendesk/zendesk.limits.ts';

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

const table = (buckets: LimitTable['buckets'], extra: Partial<LimitTable> = {}): LimitTable => ({
  platform: 'test',
  plan: 'p',
  addOns: [],
  sources: [],
  buckets,
  refusal: { body: 'too many' },
  ...extra,
});

const q = (s: string) => new URLSearchParams(s);

describe('route patterns', () => {
  it('match :id as one numeric segment, * as one segment, a trailing ** as any rest including none', () => {
    expect(compileRoute('/api/v2/tickets/:id').test('/api/v2/tickets/12')).toBe(true);
    expect(compileRoute('/api/v2/tickets/:id').test('/api/v2/tickets/count')).toBe(false);
    expect(compileRoute('/api/v2/incremental/*/sample').test('/api/v2/incremental/tickets/sample')).toBe(true);
    expect(compileRoute('/api/v2/incremental/*/sample').test('/api/v2/incremental/a/b/sample')).toBe(false);
    expect(compileRoute('/api/v2/help_center/**').test('/api/v2/help_center')).toBe(true);
    expect(compileRoute('/api/v2/help_center/**').test('/api/v2/help_center/en-us/articles/1')).toBe(true);
    expect(compileRoute('/api/v2/help_center/**').test('/api/v2/help_centerx')).toBe(false);
    expect(compileRoute('/api/v2/**/create_many').test('/api/v2/imports/tickets/create_many')).toBe(true);
  });
});

describe('the bucket limiter', () => {
  it('admits a request only when every bucket it draws from has room, and charges none on refusal', () => {
    const c = clock();
    const limiter = new BucketLimiter(
      table([
        { name: 'account', description: '', matches: [{ method: '*', path: '/api/**' }], limit: 5, windowSeconds: 60 },
        { name: 'create', description: '', matches: [{ method: 'POST', path: '/api/tickets' }], limit: 2, windowSeconds: 60 },
      ]),
      { now: c.now },
    );
    const post = { method: 'POST', path: '/api/tickets' };
    const get = { method: 'GET', path: '/api/tickets' };
    expect(limiter.admit(post)).toMatchObject({ ok: true, buckets: ['account', 'create'] });
    expect(limiter.admit(post).ok).toBe(true);
    const refused = limiter.admit(post);
    expect(refused).toMatchObject({ ok: false, bucket: 'create', retryAfterSeconds: 60 });
    // The refused create did not use the account's room: three reads still pass, the fourth does not.
    expect([1, 2, 3].map(() => limiter.admit(get).ok)).toEqual([true, true, true]);
    expect(limiter.admit(get)).toMatchObject({ ok: false, bucket: 'account' });
    c.advance(60_000);
    expect(limiter.admit(post).ok).toBe(true);
  });

  it('keeps windows on their grid: Retry-After counts down to the window end', () => {
    const c = clock();
    const limiter = new BucketLimiter(table([{ name: 'a', description: '', matches: [{ method: '*', path: '/**' }], limit: 1, windowSeconds: 60 }]), { now: c.now });
    expect(limiter.admit({ method: 'GET', path: '/x' }).ok).toBe(true);
    c.advance(45_000);
    expect(limiter.admit({ method: 'GET', path: '/x' })).toMatchObject({ ok: false, retryAfterSeconds: 15 });
    c.advance(30_000); // 75 s after the first: the second window started at 60 s
    expect(limiter.admit({ method: 'GET', path: '/x' }).ok).toBe(true);
    expect(limiter.admit({ method: 'GET', path: '/x' })).toMatchObject({ ok: false, retryAfterSeconds: 45 });
  });

  it('scales windows (a test minute of one second) and counts per key separately', () => {
    const c = clock();
    const limiter = new BucketLimiter(
      table([{ name: 'per-ticket', description: '', matches: [{ method: 'PUT', path: '/t/:id' }], limit: 2, windowSeconds: 600, perKey: 'id' }]),
      { now: c.now, windowScale: 1 / 60 },
    );
    const put = (id: number) => limiter.admit({ method: 'PUT', path: `/t/${id}.json` });
    expect([put(1).ok, put(1).ok, put(1).ok]).toEqual([true, true, false]);
    expect(put(2).ok).toBe(true);
    expect(put(1)).toMatchObject({ ok: false, retryAfterSeconds: 10 });
    c.advance(10_000);
    expect(put(1).ok).toBe(true);
  });

  it('charges credits where the bucket counts them and reports them in the headers', () => {
    const limiter = new BucketLimiter(
      table(
        [
          {
            name: 'account',
            description: '',
            matches: [{ method: '*', path: '/**' }],
            limit: 10,
            windowSeconds: 60,
            countsCredits: true,
            headers: { 'x-total': '{limit}', 'x-remaining': '{remaining}', 'x-used': '{cost}' },
          },
          { name: 'list', description: '', matches: [{ method: 'GET', path: '/tickets' }], limit: 100, windowSeconds: 60, headers: { 'x-list': 'total={limit}; remaining={remaining}' } },
        ],
        { credits: { queryParam: 'include', perValue: 2 } },
      ),
    );
    const a = limiter.admit({ method: 'GET', path: '/tickets', query: q('include=requester,stats') });
    expect(a).toMatchObject({ ok: true, cost: 5, headers: { 'x-total': '10', 'x-remaining': '5', 'x-used': '5', 'x-list': 'total=100; remaining=99' } });
    expect(limiter.admit({ method: 'GET', path: '/tickets', query: q('include=stats') }).headers['x-remaining']).toBe('2');
    // 3 credits do not fit in the 2 left, although a plain request would.
    expect(limiter.admit({ method: 'GET', path: '/tickets', query: q('include=stats') })).toMatchObject({ ok: false, bucket: 'account', cost: 3 });
    expect(limiter.admit({ method: 'GET', path: '/x' })).toMatchObject({ ok: true, cost: 1, headers: { 'x-remaining': '1' } });
  });

  it('caps holds in flight in a concurrent bucket until they are released or expire', () => {
    const c = clock();
    const limiter = new BucketLimiter(
      table([{ name: 'jobs', description: '', matches: [{ method: 'POST', path: '/jobs' }], limit: 2, windowSeconds: 3600, kind: 'concurrent', refusal: { body: { error: 'TooManyJobs' } } }]),
      { now: c.now },
    );
    const start = () => limiter.admit({ method: 'POST', path: '/jobs' });
    const a = start();
    const b = start();
    if (!a.ok || !b.ok) throw new Error('expected admissions');
    a.holds[0].bind('job-a');
    b.holds[0].cancel();
    const d = start();
    if (!d.ok) throw new Error('expected admission');
    d.holds[0].bind('job-d');
    expect(limiter.inFlight('jobs')).toBe(2);
    expect(start()).toMatchObject({ ok: false, bucket: 'jobs', refusal: { body: { error: 'TooManyJobs' } } });
    expect(limiter.release('jobs', 'job-a')).toBe(true);
    expect(start().ok).toBe(true);
    expect(start().ok).toBe(false);
    c.advance(3_600_000);
    expect(limiter.inFlight('jobs')).toBe(0);
  });

  it('uses the table refusal unless the refusing bucket has its own, naming the longest wait', () => {
    const c = clock();
    const limiter = new BucketLimiter(
      table([
        { name: 'short', description: '', matches: [{ method: '*', path: '/**' }], limit: 1, windowSeconds: 60 },
        { name: 'long', description: '', matches: [{ method: '*', path: '/**' }], limit: 1, windowSeconds: 600, refusal: { body: 'long' } },
      ]),
      { now: c.now },
    );
    limiter.admit({ method: 'GET', path: '/' });
    expect(limiter.admit({ method: 'GET', path: '/' })).toMatchObject({ ok: false, bucket: 'long', retryAfterSeconds: 600, refusal: { body: 'long' } });
    const onlyShort = new BucketLimiter(table([{ name: 'short', description: '', matches: [{ method: '*', path: '/**' }], limit: 0, windowSeconds: 60 }]));
    expect(onlyShort.admit({ method: 'GET', path: '/' })).toMatchObject({ ok: false, refusal: { body: 'too many' } });
  });

  it('replaces or removes bucket limits by name', () => {
    const t = withLimits(zendeskLimits('enterprise'), { account: 42, 'incremental-exports': null, unknown: 1 });
    expect(t.buckets.find((b) => b.name === 'account')!.limit).toBe(42);
    expect(t.buckets.some((b) => b.name === 'incremental-exports')).toBe(false);
    expect(zendeskLimits('enterprise').buckets.find((b) => b.name === 'account')!.limit).toBe(700);
  });
});

describe('the platform tables', () => {
  const names = (t: LimitTable, method: string, path: string, query = '') => bucketsFor(t, { method, path, query: q(query) }).map((b) => b.name);

  it('Zendesk: Help Center apart from the account, exports and their sample apart, list and update buckets on top', () => {
    const t = zendeskLimits('enterprise');
    expect(names(t, 'GET', '/api/v2/help_center/articles.json')).toEqual(['help-center']);
    expect(names(t, 'GET', '/api/v2/incremental/tickets/cursor.json')).toEqual(['account', 'incremental-exports']);
    expect(names(t, 'GET', '/api/v2/incremental/tickets/sample')).toEqual(['account', 'incremental-sample']);
    expect(names(t, 'GET', '/api/v2/tickets.json')).toEqual(['account', 'list-tickets']);
    expect(names(t, 'GET', '/api/v2/tickets.json', 'page=501')).toEqual(['account', 'list-tickets', 'list-tickets-deep']);
    expect(names(t, 'GET', '/api/v2/tickets/5.json')).toEqual(['account']);
    expect(names(t, 'PUT', '/api/v2/tickets/5.json')).toEqual(['account', 'update-ticket', 'update-ticket-per-ticket']);
    expect(names(t, 'POST', '/api/v2/imports/tickets/create_many.json')).toEqual(['account', 'jobs-in-flight']);
  });

  it('Zendesk plans and the High Volume add-on set the account, export, list and update limits', () => {
    const limit = (t: LimitTable, name: string) => t.buckets.find((b) => b.name === name)!.limit;
    expect(['team', 'growth', 'professional', 'enterprise', 'enterprise-plus'].map((p) => limit(zendeskLimits(p as 'team'), 'account'))).toEqual([200, 400, 400, 700, 2500]);
    const hv = zendeskLimits('professional', { highVolume: true });
    expect([limit(hv, 'account'), limit(hv, 'incremental-exports'), limit(hv, 'list-tickets'), limit(hv, 'update-ticket')]).toEqual([2500, 30, 300, 300]);
    expect(limit(zendeskLimits('enterprise-plus'), 'incremental-exports')).toBe(30);
    expect(() => zendeskLimits('team', { highVolume: true })).toThrow(/Growth and above/);
    expect(() => zendeskLimits('gold' as 'team')).toThrow(/unknown Zendesk plan/);
  });

  it('Freshdesk: an include costs 2 credits more on List All Tickets, 1 on View a Ticket; endpoint buckets per plan, none on a trial', () => {
    // API v2 reference, Tickets › List All Tickets and › View a Ticket (the `include` notes of each).
    const t = freshdeskLimits('enterprise');
    expect(creditsOf(t, { method: 'GET', path: '/api/v2/tickets/1', query: q('include=requester,company') })).toBe(3);
    expect(creditsOf(t, { method: 'GET', path: '/api/v2/tickets', query: q('include=stats') })).toBe(3);
    expect(creditsOf(t, { method: 'GET', path: '/api/v2/tickets', query: q('include=requester,stats,description') })).toBe(7);
    expect(creditsOf(t, { method: 'GET', path: '/api/v2/tickets/1' })).toBe(1);
    expect(names(t, 'POST', '/api/v2/tickets')).toEqual(['account', 'ticket-create']);
    expect(names(t, 'GET', '/api/v2/tickets')).toEqual(['account', 'tickets-list']);
    expect(names(t, 'GET', '/api/v2/tickets/3')).toEqual(['account']);
    expect(names(t, 'PUT', '/api/v2/tickets/3')).toEqual(['account', 'ticket-update']);
    expect(names(t, 'GET', '/api/v2/contacts')).toEqual(['account', 'contacts-list']);
    const row = (p: 'trial' | 'growth' | 'pro' | 'enterprise') => Object.fromEntries(freshdeskLimits(p).buckets.map((b) => [b.name, b.limit]));
    expect(row('trial')).toEqual({ account: 50 });
    expect(row('growth')).toEqual({ account: 200, 'tickets-list': 20, 'contacts-list': 20, 'ticket-create': 80, 'ticket-update': 80 });
    expect(row('pro')).toEqual({ account: 400, 'tickets-list': 100, 'contacts-list': 100, 'ticket-create': 160, 'ticket-update': 160 });
    expect(row('enterprise')).toEqual({ account: 700, 'tickets-list': 200, 'contacts-list': 200, 'ticket-create': 280, 'ticket-update': 280 });
  });
});

describe('docs/sandboxes/limits.md', () => {
  it('holds the tables generated from the limit data (UPDATE_LIMITS_DOC=1 rewrites them)', () => {
    const tables = [
      ...ZENDESK_PLANS.map((p) => zendeskLimits(p)),
      ...ZENDESK_PLANS.filter((p) => p !== 'team' && p !== 'enterprise-plus').map((p) => zendeskLimits(p, { highVolume: true })),
      ...FRESHDESK_PLANS.map((p) => freshdeskLimits(p)),
    ];
    const generated = tables
      .map((t) => `### ${t.platform === 'zendesk' ? 'Zendesk' : 'Freshdesk'} ${t.plan}${t.addOns.length ? ` + ${t.addOns.join(', ')}` : ''}\n\n${limitTableMarkdown(t)}\n`)
      .join('\n');
    const file = 'docs/sandboxes/limits.md';
    const doc = readFileSync(file, 'utf8');
    const begin = '<!-- BEGIN generated limit tables -->\n';
    const end = '<!-- END generated limit tables -->';
    const section = doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf(end));
    if (process.env.UPDATE_LIMITS_DOC === '1' && section !== generated) writeFileSync(file, doc.replace(begin + section, begin + generated));
    else expect(section).toBe(generated);
  });
});
