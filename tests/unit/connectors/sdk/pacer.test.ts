import { describe, expect, it } from 'vitest';
import { Pacer, type PacerOptions, type Pass } from '../../../../connectors/sdk/pacer.ts';
import { freshdeskPacing } from '../../../../connectors/freshdesk/freshdesk.client.ts';
import { zendeskPacing } from '../../../../connectors/zendesk/zendesk.client.ts';
import { freshdeskLimits } from '../../../../connectors/freshdesk/freshdesk.limits.ts';

/**
 * A pacer on a clock the test drives: every wait the pacer asks for is recorded and resolved only when the
 * test advances the clock past it.
 */
function harness(options: PacerOptions) {
  let t = 1_000_000;
  const sleeping: { until: number; resolve: () => void }[] = [];
  const waits: number[] = [];
  const pacer = new Pacer({
    ...options,
    now: () => t,
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        waits.push(ms);
        sleeping.push({ until: t + ms, resolve });
      }),
  });
  const settleTimers = () => {
    for (const s of sleeping.splice(0)) if (s.until <= t) s.resolve();
    else sleeping.push(s);
  };
  return {
    pacer,
    waits,
    /** Moves the clock on and wakes the waits that are due. */
    advance: async (ms: number) => {
      t += ms;
      settleTimers();
      await flush();
    },
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));
const req = (method: string, path: string, query = '') => ({ method, path, query: new URLSearchParams(query) });

/** Starts `acquire` and reports whether it has been admitted so far. */
function track(p: Promise<Pass>) {
  const state: { pass: Pass | null } = { pass: null };
  void p.then((pass) => (state.pass = pass));
  return state;
}

describe('bucket mapping', () => {
  it('maps each Freshdesk request to the account and its endpoint bucket, with include= credits (API v2 reference, Rate Limit; List All Tickets: each include costs 2 more credits)', async () => {
    const { pacer } = harness(freshdeskPacing({ plan: 'enterprise' }));
    expect(pacer.bucketsOf(req('POST', '/api/v2/tickets'))).toEqual(['account', 'ticket-create']);
    expect(pacer.bucketsOf(req('PUT', '/api/v2/tickets/12'))).toEqual(['account', 'ticket-update']);
    expect(pacer.bucketsOf(req('GET', '/api/v2/tickets'))).toEqual(['account', 'tickets-list']);
    expect(pacer.bucketsOf(req('POST', '/api/v2/tickets/12/notes'))).toEqual(['account']);
    const pass = await pacer.acquire(req('GET', '/api/v2/tickets', 'include=stats,requester'));
    expect(pass.cost).toBe(5);
    expect(pacer.report().account.credits).toBe(5);
    expect(pacer.report()['tickets-list'].credits).toBe(1);
  });

  it('maps Zendesk requests to the account, Help Center apart, the per-endpoint and per-ticket buckets and the job cap (Zendesk rate limits reference)', () => {
    const { pacer } = harness(zendeskPacing({ plan: 'enterprise' }));
    expect(pacer.bucketsOf(req('PUT', '/api/v2/tickets/7.json'))).toEqual(['account', 'update-ticket', 'update-ticket-per-ticket']);
    expect(pacer.bucketsOf(req('GET', '/api/v2/help_center/en-us/articles'))).toEqual(['help-center']);
    expect(pacer.bucketsOf(req('GET', '/api/v2/incremental/tickets/cursor.json'))).toEqual(['account', 'incremental-exports']);
    expect(pacer.bucketsOf(req('POST', '/api/v2/imports/tickets/create_many.json'))).toEqual(['account', 'jobs-in-flight']);
    expect(pacer.bucketsOf(req('GET', '/elsewhere'))).toEqual(['(unmapped)']);
  });
});

describe('admission by bucket', () => {
  it('holds ticket creates at the plan limit of their bucket while notes and reads are admitted at once', async () => {
    const h = harness(freshdeskPacing({ plan: 'enterprise' }));
    for (let i = 0; i < 280; i++) await h.pacer.acquire(req('POST', '/api/v2/tickets'));
    const create = track(h.pacer.acquire(req('POST', '/api/v2/tickets')));
    await flush();
    expect(create.pass).toBeNull();
    expect(h.waits).toEqual([60_000]);
    await h.pacer.acquire(req('POST', '/api/v2/tickets/3/notes'));
    await h.pacer.acquire(req('GET', '/api/v2/tickets/3/conversations'));
    expect(create.pass).toBeNull();
    await h.advance(60_000);
    expect(create.pass?.buckets).toEqual(['account', 'ticket-create']);
    expect(h.pacer.report()['ticket-create']).toMatchObject({ requests: 281, waited: 1, limit: 280, limitFrom: 'table' });
  });

  it('holds every request once the account credits are spent, counting include= credits', async () => {
    const h = harness(freshdeskPacing({ plan: 'growth' }));
    // Growth: 200 credits a minute; 66 list pages with one include cost 198.
    for (let i = 0; i < 66; i++) await h.pacer.acquire(req('GET', '/api/v2/contacts/1', 'include=stats'));
    const dear = track(h.pacer.acquire(req('GET', '/api/v2/contacts/2', 'include=stats')));
    await flush();
    expect(dear.pass).toBeNull();
    const cheap = await h.pacer.acquire(req('GET', '/api/v2/contacts/3'));
    expect(cheap.cost).toBe(1);
    await h.advance(60_000);
    expect(dear.pass?.cost).toBe(3);
  });

  it('never lets more Zendesk background jobs be in flight than the job cap, and frees a slot when a job finishes (Rate limits: Job limit, 30)', async () => {
    const h = harness(zendeskPacing({ plan: 'enterprise' }));
    const createMany = req('POST', '/api/v2/imports/tickets/create_many.json');
    for (let i = 0; i < 30; i++) {
      const pass = await h.pacer.acquire(createMany);
      h.pacer.settle(pass, { status: 200, headers: {}, body: { job_status: { id: `J${i}`, status: 'queued' } } });
    }
    expect(h.pacer.inFlight('jobs-in-flight')).toBe(30);
    const next = track(h.pacer.acquire(createMany));
    await flush();
    expect(next.pass).toBeNull();
    // Other requests are not held by the job cap.
    await h.pacer.acquire(req('GET', '/api/v2/job_statuses/J0.json'));
    const poll = await h.pacer.acquire(req('GET', '/api/v2/job_statuses/J3.json'));
    h.pacer.settle(poll, { status: 200, headers: {}, body: { job_status: { id: 'J3', status: 'completed' } } });
    await flush();
    expect(next.pass?.buckets).toEqual(['account', 'jobs-in-flight']);
    expect(h.pacer.report()['jobs-in-flight'].peakInFlight).toBe(30);
  });

  it('frees the slots of every finished job that one "Show Many Job Statuses" answer lists, and only those', async () => {
    const h = harness(zendeskPacing({ plan: 'enterprise' }));
    const createMany = req('POST', '/api/v2/imports/tickets/create_many.json');
    for (let i = 0; i < 3; i++) {
      const pass = await h.pacer.acquire(createMany);
      h.pacer.settle(pass, { status: 200, headers: {}, body: { job_status: { id: `M${i}`, status: 'queued' } } });
    }
    expect(h.pacer.inFlight('jobs-in-flight')).toBe(3);
    const read = await h.pacer.acquire(req('GET', '/api/v2/job_statuses/show_many.json?ids=M0,M1,M2'));
    const statuses = [{ id: 'M0', status: 'completed' }, { id: 'M1', status: 'working' }, { id: 'M2', status: 'failed' }];
    h.pacer.settle(read, { status: 200, headers: {}, body: { job_statuses: statuses } });
    expect(h.pacer.inFlight('jobs-in-flight')).toBe(1);
  });

  it('gives a job slot back when the request that took it started no job', async () => {
    const h = harness(zendeskPacing({ plan: 'enterprise' }));
    const pass = await h.pacer.acquire(req('POST', '/api/v2/imports/tickets/create_many.json'));
    expect(h.pacer.inFlight('jobs-in-flight')).toBe(1);
    h.pacer.settle(pass, { status: 422, headers: {}, body: { error: 'RecordInvalid' } });
    expect(h.pacer.inFlight('jobs-in-flight')).toBe(0);
  });
});

describe('a 429 pauses the bucket that answered it', () => {
  it('pauses ticket creates for the Retry-After while notes and reads go on', async () => {
    const h = harness(freshdeskPacing({ plan: 'enterprise' }));
    const pass = await h.pacer.acquire(req('POST', '/api/v2/tickets'));
    // The account still has credits: the ticket-create bucket refused.
    h.pacer.settle(pass, { status: 429, headers: { 'retry-after': '30', 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '650' }, body: { description: 'You have exceeded the limit of requests per minute' } });
    const create = track(h.pacer.acquire(req('POST', '/api/v2/tickets')));
    await flush();
    expect(create.pass).toBeNull();
    expect(h.waits).toEqual([30_000]);
    await h.pacer.acquire(req('POST', '/api/v2/tickets/9/notes'));
    await h.pacer.acquire(req('GET', '/api/v2/contacts'));
    await h.advance(29_000);
    expect(create.pass).toBeNull();
    await h.advance(1_000);
    expect(create.pass).not.toBeNull();
    expect(h.pacer.report()['ticket-create'].rateLimited).toBe(1);
    expect(h.pacer.report().account.rateLimited).toBe(0);
  });

  it('pauses the whole account when its headers say it is spent', async () => {
    const h = harness(freshdeskPacing({ plan: 'enterprise' }));
    const pass = await h.pacer.acquire(req('GET', '/api/v2/tickets/1'));
    h.pacer.settle(pass, { status: 429, headers: { 'retry-after': '12', 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '0' } });
    const read = track(h.pacer.acquire(req('GET', '/api/v2/groups')));
    await flush();
    expect(read.pass).toBeNull();
    expect(h.waits).toEqual([12_000]);
    expect(h.pacer.report().account.rateLimited).toBe(1);
  });

  it('knows the Zendesk export bucket by its own refusal body and pauses only the exports', async () => {
    const h = harness(zendeskPacing({}));
    const pass = await h.pacer.acquire(req('GET', '/api/v2/incremental/tickets/cursor.json'));
    h.pacer.settle(pass, {
      status: 429,
      headers: { 'retry-after': '40', 'ratelimit-limit': '700', 'ratelimit-remaining': '690', 'ratelimit-reset': '40' },
      body: { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental export API requests per minute exceeded' },
    });
    const exportPage = track(h.pacer.acquire(req('GET', '/api/v2/incremental/users/cursor.json')));
    await h.pacer.acquire(req('GET', '/api/v2/tickets/1/comments.json'));
    await flush();
    expect(exportPage.pass).toBeNull();
    expect(h.pacer.report()['incremental-exports'].rateLimited).toBe(1);
    await h.advance(40_000);
    expect(exportPage.pass).not.toBeNull();
  });

  it('still pauses only the refusing bucket when pacing is off', async () => {
    const h = harness(freshdeskPacing({ plan: 'none' }));
    for (let i = 0; i < 1000; i++) await h.pacer.acquire(req('POST', '/api/v2/tickets'));
    expect(h.waits).toEqual([]);
    const pass = await h.pacer.acquire(req('POST', '/api/v2/tickets'));
    h.pacer.settle(pass, { status: 429, headers: { 'retry-after': '5' } });
    const create = track(h.pacer.acquire(req('POST', '/api/v2/tickets')));
    await h.pacer.acquire(req('GET', '/api/v2/tickets/1'));
    await flush();
    expect(create.pass).toBeNull();
    expect(h.waits).toEqual([5_000]);
  });
});

describe('learning from the answers', () => {
  it('takes the account limit from X-RateLimit-Total and the endpoint limits of the plan it names (auto)', async () => {
    const h = harness(freshdeskPacing({}));
    expect(h.pacer.report()['ticket-create'].limit).toBe(280);
    const pass = await h.pacer.acquire(req('GET', '/api/v2/agents/me'));
    h.pacer.settle(pass, { status: 200, headers: { 'x-ratelimit-total': '200', 'x-ratelimit-remaining': '199', 'x-ratelimit-used-currentrequest': '1' } });
    expect(h.pacer.report().account).toMatchObject({ limit: 200, limitFrom: 'headers' });
    // 200 a minute is Growth: 80 ticket creates a minute.
    expect(h.pacer.report()['ticket-create']).toMatchObject({ limit: 80, limitFrom: 'plan' });
  });

  it('does not slow a server that states no limits: every bucket goes unpaced until a 429 (auto)', async () => {
    const h = harness(freshdeskPacing({}));
    const first = await h.pacer.acquire(req('GET', '/api/v2/agents/me'));
    h.pacer.settle(first, { status: 200, headers: { 'content-type': 'application/json' }, body: {} });
    for (let i = 0; i < 2000; i++) await h.pacer.acquire(req('POST', '/api/v2/tickets'));
    expect(h.waits).toEqual([]);
    expect(h.pacer.report().account.limit).toBeNull();
    expect(h.pacer.report()['ticket-create'].limit).toBeNull();
  });

  it('lifts the plan table when the account states a higher limit than the plan', async () => {
    const h = harness(zendeskPacing({}));
    const first = await h.pacer.acquire(req('GET', '/api/v2/users/me.json'));
    h.pacer.settle(first, { status: 200, headers: { 'ratelimit-limit': '100000', 'ratelimit-remaining': '99999', 'ratelimit-reset': '60' } });
    for (let i = 0; i < 1500; i++) await h.pacer.acquire(req('GET', `/api/v2/tickets/${i}/comments.json`));
    expect(h.waits).toEqual([]);
    // No plan states 100000 a minute: the endpoint buckets no header reports are left to their 429s.
    expect(h.pacer.report()['update-ticket'].limit).toBeNull();
  });

  it('waits out the window the account reports spent (ratelimit-remaining 0, ratelimit-reset)', async () => {
    const h = harness(zendeskPacing({}));
    const first = await h.pacer.acquire(req('GET', '/api/v2/users/me.json'));
    h.pacer.settle(first, { status: 200, headers: { 'ratelimit-limit': '700', 'ratelimit-remaining': '0', 'ratelimit-reset': '12' } });
    const next = track(h.pacer.acquire(req('GET', '/api/v2/groups.json')));
    await flush();
    expect(next.pass).toBeNull();
    expect(h.waits).toEqual([12_000]);
    await h.advance(12_000);
    expect(next.pass).not.toBeNull();
  });

  it('reads the List Tickets bucket from zendesk-ratelimit-tickets-index and the job cap from zendesk-ratelimit-inflight-jobs', async () => {
    const h = harness(zendeskPacing({ plan: 'enterprise' }));
    const list = await h.pacer.acquire(req('GET', '/api/v2/tickets.json'));
    h.pacer.settle(list, { status: 200, headers: { 'ratelimit-limit': '700', 'ratelimit-remaining': '699', 'zendesk-ratelimit-tickets-index': 'total=150; remaining=149; resets=40' } });
    expect(h.pacer.report()['list-tickets']).toMatchObject({ limit: 150, limitFrom: 'headers' });
    const job = await h.pacer.acquire(req('POST', '/api/v2/imports/tickets/create_many.json'));
    h.pacer.settle(job, { status: 200, headers: { 'zendesk-ratelimit-inflight-jobs': 'total=5; remaining=4; resets=3600' }, body: { job_status: { id: 'A', status: 'queued' } } });
    expect(h.pacer.report()['jobs-in-flight']).toMatchObject({ limit: 5, inFlight: 1 });
  });

  it('asks a spent Freshdesk account once a second, since its headers give no window end, and follows the count it answers', async () => {
    const h = harness(freshdeskPacing({}));
    const first = await h.pacer.acquire(req('GET', '/api/v2/agents/me'));
    h.pacer.settle(first, { status: 200, headers: { 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '0' } });
    const probe = track(h.pacer.acquire(req('GET', '/api/v2/groups')));
    await flush();
    // The first request after the account reads spent is the probe.
    expect(probe.pass).not.toBeNull();
    h.pacer.settle(probe.pass!, { status: 200, headers: { 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '0' } });
    const next = track(h.pacer.acquire(req('GET', '/api/v2/groups')));
    await flush();
    expect(next.pass).toBeNull();
    expect(h.waits).toEqual([1000]);
    await h.advance(1000);
    expect(next.pass).not.toBeNull();
    // The server's window turned over: its count replaces this client's guess.
    h.pacer.settle(next.pass!, { status: 200, headers: { 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '699' } });
    for (let i = 0; i < 100; i++) await h.pacer.acquire(req('GET', '/api/v2/groups'));
    expect(h.waits).toEqual([1000]);
  });

  it('counts the requests still in flight on top of the count a Freshdesk answer states (regression: 429s on a bucket used at a third of its limit)', async () => {
    const h = harness(freshdeskPacing({ plan: 'enterprise' }));
    const first = await h.pacer.acquire(req('GET', '/api/v2/agents/me'));
    h.pacer.settle(first, { status: 200, headers: { 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '699' } });
    const inFlight: Pass[] = [];
    for (let i = 0; i < 30; i++) inFlight.push(await h.pacer.acquire(req('GET', '/api/v2/tickets/1')));
    // The first of them comes back having been counted with the first request only: 29 are still on their way,
    // and the server will count them too.
    h.pacer.settle(inFlight[0], { status: 200, headers: { 'x-ratelimit-total': '700', 'x-ratelimit-remaining': '698' } });
    let admitted = 31;
    for (;;) {
      const next = track(h.pacer.acquire(req('GET', '/api/v2/tickets/2')));
      await flush();
      if (!next.pass) break;
      admitted += 1;
    }
    // 700 credits in the server's window, and the one probe a spent bucket sends a second.
    expect(admitted).toBe(701);
  });

  it('keeps a named plan’s endpoint limits when the account states no headers', async () => {
    const h = harness({ table: freshdeskLimits('pro'), mode: 'plan' });
    const first = await h.pacer.acquire(req('GET', '/api/v2/agents/me'));
    h.pacer.settle(first, { status: 200, headers: {} });
    expect(h.pacer.report().account).toMatchObject({ limit: 400, limitFrom: 'table' });
    expect(h.pacer.report()['ticket-create']).toMatchObject({ limit: 160, limitFrom: 'table' });
  });
});
