import { afterEach, describe, expect, it } from 'vitest';
import { sandbox as freshdeskSandbox } from '../freshdesk/helpers.ts';
import { sandbox as zendeskSandbox } from '../zendesk/helpers.ts';
import { sandboxOptions } from '../../helpers/sandbox-options.ts';

// Integration: the suite's sandbox helpers start both sandboxes the way the platforms behave by default.
// Sources: Zendesk "Rate limits" (Enterprise 700 a minute; List Tickets on its own bucket) and "Using the
// Incremental Export API" (items changed within the minute before the request are excluded); Freshdesk API v2
// reference `#ratelimit` (Enterprise 700 a minute, Tickets List 200).

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('the suite runs the documented defaults', () => {
  it('Zendesk: Enterprise limits with the List Tickets bucket, and the last minute left out of exports', async () => {
    const sb = await zendeskSandbox({ tickets: 2, seed: 21 });
    open.push(sb);
    const auth = `Basic ${Buffer.from(`${sb.credentials.email}/token:${sb.credentials.apiToken}`).toString('base64')}`;
    const list = await fetch(`${sb.url}/api/v2/tickets.json`, { headers: { authorization: auth } });
    expect(list.status).toBe(200);
    expect(list.headers.get('x-rate-limit')).toBe('700');
    expect(list.headers.get('zendesk-ratelimit-tickets-index')).toMatch(/^total=100; /);
    const fresh = sb.createTicket({ subject: 'made a moment ago' }).id;
    const exported = (await (await fetch(`${sb.url}/api/v2/incremental/tickets.json?start_time=0`, { headers: { authorization: auth } })).json()) as { tickets: { id: number }[] };
    expect(exported.tickets.length).toBeGreaterThan(0);
    expect(exported.tickets.map((t) => t.id)).not.toContain(fresh);
  });

  it('Freshdesk: Enterprise limits with the Tickets List bucket', async () => {
    const sb = await freshdeskSandbox({ tickets: 1, seed: 22 });
    open.push(sb);
    await sb.ready;
    const res = await fetch(`${sb.url}/api/v2/tickets`, { headers: { authorization: `Basic ${Buffer.from(`${sb.apiKey}:X`).toString('base64')}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-total')).toBe('700');
    expect(sb.limitStats()['tickets-list']).toBeDefined();
  });

  it('refuses a leniency without its reason, and the raw options that would bypass the rule', () => {
    expect(() => sandboxOptions<Record<string, unknown>>({ unthrottled: 'x' })).toThrow(/reason/);
    expect(() => sandboxOptions<Record<string, unknown>>({ requestsPerMinute: null } as never)).toThrow(/unthrottled/);
    expect(() => sandboxOptions<Record<string, unknown>>({ exportLagSeconds: 0 } as never)).toThrow(/immediateExports/);
    expect(sandboxOptions<Record<string, unknown>>({ immediateExports: 'reads an edit made a moment before' })).toEqual({ exportLagSeconds: 0 });
  });
});
