import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../connectors/sdk/http.ts';
import { freshdeskPacing } from '../../../connectors/freshdesk/freshdesk.client.ts';
import { startFreshdeskSandbox, type FreshdeskSandbox } from '../../../connectors/freshdesk/index.ts';
import { zendeskPacing } from '../../../connectors/zendesk/zendesk.client.ts';
import { startZendeskSandbox, type ZendeskSandbox } from '../../../connectors/zendesk/index.ts';

// Integration: the HTTP layer paces each limit bucket on its own against the sandboxes at their plan limits.
// Sources:
//  Freshdesk API v2 reference "Rate Limit" (https://developers.freshdesk.com/api/#ratelimit) and the support
//  article on rate limits: Enterprise 700 calls a minute, Ticket Create 280 a minute; 429 with Retry-After.
//  Zendesk "Rate limits" (https://developer.zendesk.com/api-reference/introduction/rate-limits/), "Job limit":
//  at most 30 background jobs queued or running at once; header `zendesk-ratelimit-inflight-jobs`.

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const WINDOW_MS = 8000;

describe('bucket pacing against the Freshdesk sandbox (plan enterprise)', () => {
  it('keeps notes and reads flowing while a ticket-create 429 storm pauses only the creates, for their Retry-After', async () => {
    const sb: FreshdeskSandbox = await startFreshdeskSandbox({ tickets: 3, seed: 41, plan: 'enterprise', rateLimitWindowMs: WINDOW_MS });
    open.push(sb);
    await sb.ready;
    const authorization = `Basic ${Buffer.from(`${sb.apiKey}:X`).toString('base64')}`;
    const client = new HttpClient({
      platform: 'freshdesk',
      baseUrl: sb.url,
      headers: { authorization },
      concurrency: 8,
      // The client's minute shrinks with the sandbox's.
      pacing: { ...freshdeskPacing({}), windowScale: WINDOW_MS / 60_000 },
    });
    open.push(client);
    const newTicket = (i: number) => ({ email: `storm${i}@example.com`, subject: `storm ${i}`, description: 'x', status: 2, priority: 1 });

    // Another integration on the account spends the Ticket Create bucket of this window.
    let outside = 0;
    for (;;) {
      const res = await fetch(`${sb.url}/api/v2/tickets`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(newTicket(1000 + outside)) });
      await res.arrayBuffer();
      if (res.status === 429) break;
      outside += 1;
    }
    const refusedBefore = sb.limitStats()['ticket-create'].refused;

    const creates = Array.from({ length: 5 }, (_, i) => client.send({ method: 'POST', path: '/api/v2/tickets', json: newTicket(i) }).then((r) => r.status));
    let createsDone = false;
    const allCreated = Promise.all(creates).finally(() => (createsDone = true));

    // Notes and reads, one after another, while the creates are refused and paused.
    let duringPause = 0;
    while (!createsDone) {
      const paused = client.pacer!.report()['ticket-create'].rateLimited > 0;
      const note = await client.send({ method: 'POST', path: `/api/v2/tickets/${1 + (duringPause % 3)}/notes`, json: { body: 'still flowing', private: true } });
      const read = await client.get(`/api/v2/tickets/${1 + (duringPause % 3)}/conversations`);
      expect(note.status).toBe(201);
      expect(read.status).toBe(200);
      if (paused && !createsDone) duringPause += 1;
    }
    expect(await allCreated).toEqual([201, 201, 201, 201, 201]);

    const report = client.pacer!.report();
    // Every create the client sent into the spent bucket was refused once, then waited out its Retry-After.
    expect(report['ticket-create'].rateLimited).toBeGreaterThan(0);
    expect(sb.limitStats()['ticket-create'].refused - refusedBefore).toBe(report['ticket-create'].rateLimited);
    expect(report['ticket-create'].rateLimited).toBeLessThanOrEqual(5);
    // Under one client-wide pause none would have gone while the creates waited.
    expect(duringPause).toBeGreaterThanOrEqual(10);
    // The account limit came from the answers' X-RateLimit-Total; the endpoint limits from the plan it names.
    expect(report.account).toMatchObject({ limit: 700, limitFrom: 'headers' });
    expect(report['ticket-create']).toMatchObject({ limit: 280, limitFrom: 'plan' });
  }, 60_000);
});

describe('bucket pacing against the Zendesk sandbox (plan enterprise)', () => {
  it('never has more than 30 background jobs in flight, and sends the next as soon as a job is read as finished', async () => {
    const sb: ZendeskSandbox = await startZendeskSandbox({ tickets: 1, seed: 42, plan: 'enterprise' });
    open.push(sb);
    const authorization = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
    const client = new HttpClient({ platform: 'zendesk', baseUrl: sb.url, headers: { authorization }, concurrency: 16, maxRetryAfterSeconds: 2, pacing: zendeskPacing({}) });
    open.push(client);
    const requester = sb.store.owner.id;
    type Job = { job_status: { id: string; status: string } };
    const jobs = Array.from({ length: 40 }, (_, i) =>
      client.send<Job>({
        method: 'POST',
        path: '/api/v2/imports/tickets/create_many.json',
        json: { tickets: [{ subject: `job ${i}`, requester_id: requester, comments: [{ author_id: requester, value: 'x' }] }] },
      }),
    );
    const queued: string[] = [];
    for (const job of jobs) void job.then((r) => queued.push(r.body.job_status.id));
    const polled = new Set<string>();
    while (polled.size < 40) {
      await new Promise((r) => setTimeout(r, 20));
      expect(client.pacer!.inFlight('jobs-in-flight')).toBeLessThanOrEqual(30);
      // Reads the status of the jobs queued so far, one at a time, as a writer following its jobs does.
      const next = queued.find((id) => !polled.has(id));
      if (!next) continue;
      polled.add(next);
      const status = await client.get<Job>(`/api/v2/job_statuses/${next}.json`);
      expect(status.body.job_status.status).toBe('completed');
    }
    await Promise.all(jobs);
    expect(sb.limitStats()['jobs-in-flight']).toMatchObject({ admitted: 40, refused: 0 });
    expect(client.pacer!.report()['jobs-in-flight']).toMatchObject({ requests: 40, peakInFlight: 30, limit: 30, limitFrom: 'headers' });
  }, 60_000);
});
