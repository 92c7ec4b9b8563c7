import { afterAll, describe, expect, it } from 'vitest';
import { FreshdeskConnector } from '../../../../connectors/freshdesk/freshdesk.connector.ts';
import { RtConnector } from '../../../../connectors/rt/rt.connector.ts';
import { ZendeskConnector } from '../../../../connectors/zendesk/zendesk.connector.ts';
import { bucketTotals, projectPhase, sideBuckets, sideRates } from '../../../../services/estimate/estimate.ts';

// Connectors on their Enterprise tables; no request is sent: the projection reads only their limit tables
// and request costs. Freshdesk Enterprise: 700 credits a minute, Ticket Create 280 a minute ("What are the
// rate limits for the API calls to Freshdesk?"); Zendesk Enterprise: 700 a minute (Rate limits page).
const zendesk = new ZendeskConnector({ url: 'http://127.0.0.1:9', credentials: { email: 'a@example.com', apiToken: 't' }, plan: 'enterprise' });
const freshdesk = new FreshdeskConnector({ url: 'http://127.0.0.1:9', credentials: { apiKey: 'k' }, plan: 'enterprise' });
const rates = sideRates(zendesk, freshdesk, { source: { requestsPerMinute: 0, concurrency: 100 }, target: { requestsPerMinute: 0, concurrency: 100 } });

const rt = new RtConnector({ url: 'http://127.0.0.1:9', credentials: { token: 't' } });
const zendeskEvents = new ZendeskConnector({ url: 'http://127.0.0.1:9', credentials: { email: 'a@example.com', apiToken: 't' }, plan: 'enterprise', comments: 'events' });
const zendeskAuto = new ZendeskConnector({ url: 'http://127.0.0.1:9', credentials: { email: 'a@example.com', apiToken: 't' }, plan: 'enterprise', comments: 'auto' });

afterAll(async () => {
  await Promise.all([zendesk.close(), freshdesk.close(), rt.close(), zendeskEvents.close(), zendeskAuto.close()]);
});

describe('hdm estimate per limit bucket', () => {
  it('bounds ticket loads into Freshdesk by Ticket Create when the tickets carry few comments', () => {
    // 560 ticket creates at 280 a minute: the window admits 280 at once, the other 280 a minute later; the same
    // 560 requests at the account's 700 a minute take 48 s.
    const phase = projectPhase(zendesk, freshdesk, rates, 'ticket', 560, 560, 0);
    expect(phase.targetRequests).toBe(560);
    expect(phase.bucket).toBe('target/ticket-create');
    expect(phase.limitedBy).toBe('target rate limit');
    expect(phase.seconds).toBeCloseTo(60);
    expect(phase.buckets).toContainEqual({ side: 'target', bucket: 'ticket-create', requests: 560, used: 560 });
    expect(phase.buckets).toContainEqual({ side: 'target', bucket: 'account', requests: 560, used: 560 });
    // The source reads one export page (the exports' own bucket and the account) and 560 comment lists.
    expect(phase.buckets).toContainEqual({ side: 'source', bucket: 'incremental-exports', requests: 1, used: 1 });
    expect(phase.buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 561, used: 561 });
  });

  it('bounds them by the account once the notes outweigh the creates, and names the binding bucket over all phases', () => {
    // 560 tickets with 2,800 comments: 560 creates and 2,240 notes, 2,800 requests at 700 a minute: 4 minutes.
    const tickets = projectPhase(zendesk, freshdesk, rates, 'ticket', 560, 2800, 0);
    expect(tickets.bucket).toBe('target/account');
    expect(tickets.seconds).toBeCloseTo(240);
    const contacts = projectPhase(zendesk, freshdesk, rates, 'contact', 2000, 0, 0);
    // Each contact: a search, a list by email (Contacts List, 200 a minute) and a create: 1,800 lists past the
    // first window take 540 s; 6,000 requests at the account's 700 a minute 514 s.
    expect(contacts.buckets).toContainEqual({ side: 'target', bucket: 'contacts-list', requests: 2000, used: 2000 });
    expect(contacts.bucket).toBe('target/contacts-list');
    expect(contacts.seconds).toBeCloseTo(540);
    const totals = bucketTotals([tickets, contacts], { source: sideBuckets('source', zendesk), target: sideBuckets('target', freshdesk) });
    const account = totals.find((b) => b.side === 'target' && b.bucket === 'account')!;
    // Over the whole run, each bucket at a steady rate: the account's 8,800 requests take 754 s.
    expect(account).toMatchObject({ requests: 2800 + 6000, used: 2800 + 6000, limit: 700, windowSeconds: 60, binding: true });
    expect(account.seconds).toBeCloseTo((8800 / 700) * 60);
    expect(totals.filter((b) => b.binding)).toHaveLength(1);
    expect(totals.find((b) => b.bucket === 'ticket-create')).toMatchObject({ requests: 560, binding: false });
  });

  it('keeps the migration file\'s ceiling and the concurrency as limits of their own', () => {
    const capped = sideRates(zendesk, freshdesk, { source: { requestsPerMinute: 0, concurrency: 100 }, target: { requestsPerMinute: 200, concurrency: 100 } });
    const phase = projectPhase(zendesk, freshdesk, capped, 'ticket', 560, 560, 0);
    expect(phase.bucket).toBe('target/requestsPerMinute');
    // 560 requests under a ceiling of 200 a minute: 168 s, longer than Ticket Create's 60 s.
    expect(phase.seconds).toBeCloseTo((560 / 200) * 60);
  });

  it('paces a platform without a limit table by its one rate limit, as an account bucket', () => {
    const fromRt = sideRates(rt, freshdesk, { source: { requestsPerMinute: 0, concurrency: 100 }, target: { requestsPerMinute: 0, concurrency: 100 } });
    const phase = projectPhase(rt, freshdesk, fromRt, 'ticket', 10, 10, 0);
    const source = sideBuckets('source', rt);
    expect(source.buckets.map((b) => [b.bucket.name, b.limit])).toEqual([['account', rt.rateLimit.requestsPerMinute]]);
    expect(phase.buckets.filter((b) => b.side === 'source')).toEqual([{ side: 'source', bucket: 'account', requests: phase.sourceRequests, used: phase.sourceRequests }]);
  });

  it('projects Zendesk `source.comments: events` as event export pages plus List Comments for the share that falls back', () => {
    // 2,000 tickets with 30,000 comments, 46% of the sampled tickets falling back: the ticket export's 2 pages and
    // 30 pages of the Incremental Ticket Event Export (up to 1,000 events a page; "Incremental Exports" →
    // "Incremental Ticket Event Export") draw the export bucket (10 a minute on Enterprise); 920 List Comments
    // draw the account's (700 a minute).
    const events = projectPhase(zendeskEvents, freshdesk, rates, 'ticket', 2000, 30_000, 0, undefined, 0.46);
    expect(events.buckets).toContainEqual({ side: 'source', bucket: 'incremental-exports', requests: 32, used: 32 });
    expect(events.buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 32 + 920, used: 32 + 920 });
    expect(events.sourceRequests).toBe(32 + 920);
    // The same tickets read per ticket: one page and 2,000 comment lists.
    const perTicket = projectPhase(zendesk, freshdesk, rates, 'ticket', 2000, 30_000, 0, undefined, 0.46);
    expect(perTicket.buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 2002, used: 2002 });
    // `auto` reads a full run from the export's beginning, as `events` does.
    expect(projectPhase(zendeskAuto, freshdesk, rates, 'ticket', 2000, 30_000, 0, undefined, 0.46).buckets).toEqual(events.buckets);
    // Without a sample every ticket is counted as falling back.
    expect(projectPhase(zendeskEvents, freshdesk, rates, 'ticket', 2000, 30_000, 0).sourceRequests).toBe(32 + 2000);
  });

  it('lets the export bucket bind a Zendesk source under `events` when no ticket falls back', () => {
    // 20,000 tickets, 150,000 comments, none falling back: 20 ticket pages and 150 event pages draw the export
    // bucket (10 a minute): 17 minutes at a steady rate, for 170 account requests. Per ticket the same read is
    // 20 export pages and 20,000 List Comments.
    const phase = projectPhase(zendeskEvents, freshdesk, rates, 'ticket', 20_000, 150_000, 0, undefined, 0);
    expect(phase.buckets).toContainEqual({ side: 'source', bucket: 'incremental-exports', requests: 170, used: 170 });
    expect(phase.buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 170, used: 170 });
    const totals = bucketTotals([phase], { source: sideBuckets('source', zendeskEvents), target: sideBuckets('target', freshdesk) });
    expect(totals.find((b) => b.side === 'source' && b.bucket === 'incremental-exports')!.seconds).toBeCloseTo((170 / 10) * 60);
    expect(projectPhase(zendesk, freshdesk, rates, 'ticket', 20_000, 150_000, 0).buckets).toContainEqual({ side: 'source', bucket: 'account', requests: 20_020, used: 20_020 });
  });
});
