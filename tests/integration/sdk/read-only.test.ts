import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connector, ListedTicket, ReadOptions, StreamState } from '../../../connectors/sdk/contract.ts';
import type { Envelope, Ticket } from '../../../schemas/canonical.ts';
import * as fd from '../freshdesk/helpers.ts';
import * as zd from '../zendesk/helpers.ts';

/**
 * `ReadOptions.only` (express order's passes): a ticket the read does not want is left out before the
 * reader fetches anything more of it, yet the states the read yields cover it as they cover the rest.
 */

interface Case {
  name: string;
  start(): Promise<{ connector: Connector; detailRequests(): number; close(): Promise<void> }>;
}

const TICKETS = 40;
const reason = 'the subject is which requests a read makes, not their pacing (tests/integration/sdk/pacing.test.ts)';

const cases: Case[] = [
  {
    name: 'freshdesk: View a Ticket and List All Conversations of a Ticket',
    async start() {
      const sb = await fd.sandbox({ tickets: TICKETS, seed: 11, articles: 0, unthrottled: reason });
      const connector = fd.connect(sb);
      const log = () => sb.requestLog();
      return {
        connector,
        detailRequests: () => (log().get('GET /api/v2/tickets/:id') ?? 0) + (log().get('GET /api/v2/tickets/:id/conversations') ?? 0),
        close: async () => {
          await connector.close();
          await sb.close();
        },
      };
    },
  },
  {
    name: 'zendesk: List Comments',
    async start() {
      const sb = await zd.sandbox({ tickets: TICKETS, seed: 11, articles: 0, unthrottled: reason, immediateExports: 'the read must reach the newest seeded ticket' });
      const connector = zd.connect(sb, { plan: 'none' });
      return {
        connector,
        detailRequests: () => sb.requestsByRoute()['GET /api/v2/tickets/:id/comments'] ?? 0,
        close: async () => {
          await connector.close();
          await sb.close();
        },
      };
    },
  },
];

async function readTickets(c: Connector, options: ReadOptions = {}): Promise<{ records: Envelope[]; state: StreamState | null }> {
  const records: Envelope[] = [];
  let state: StreamState | null = null;
  for await (const page of c.read('ticket', null, options)) {
    records.push(...page.records);
    state = page.state;
  }
  return { records, state };
}

describe.each(cases)('a ticket read with `only` ($name)', ({ start }) => {
  let env: Awaited<ReturnType<Case['start']>>;
  beforeAll(async () => {
    env = await start();
  });
  afterAll(async () => env?.close());

  it('fetches nothing more of a ticket it leaves out, hands out exactly the tickets it keeps, and ends at the same state', async () => {
    const before = env.detailRequests();
    const all = await readTickets(env.connector);
    const perTicket = (env.detailRequests() - before) / TICKETS;
    expect(all.records).toHaveLength(TICKETS);
    expect(perTicket, 'detail requests per ticket in a whole read').toBeGreaterThanOrEqual(1);

    const asked: ListedTicket[] = [];
    const keep = (t: ListedTicket) => t.status === 'open' || t.status === 'pending';
    const mid = env.detailRequests();
    const some = await readTickets(env.connector, {
      only: (t) => {
        asked.push(t);
        return keep(t);
      },
    });
    const kept = all.records.filter((e) => e.op === 'upsert' && keep(e.record as Ticket));
    expect(kept.length, 'the seed has tickets on both sides').toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(TICKETS);

    // Asked once of every listed ticket, with what the full record says of it.
    expect(asked.map((t) => t.sourceId).sort()).toEqual(all.records.map((e) => e.sourceId).sort());
    const full = new Map(all.records.map((e) => [e.sourceId, e.record as Ticket]));
    for (const t of asked) {
      expect(t.status, t.sourceId).toBe(full.get(t.sourceId)!.status);
      expect(Date.parse(t.updatedAt), t.sourceId).toBe(Date.parse(full.get(t.sourceId)!.updatedAt));
    }
    expect(some.records.map((e) => e.sourceId).sort()).toEqual(kept.map((e) => e.sourceId).sort());
    expect(some.records).toEqual(expect.arrayContaining(kept));
    // Only the kept tickets' details were fetched.
    expect(env.detailRequests() - mid).toBe(Math.round(perTicket * kept.length));
    // The cursor covers what was left out: a read resumed from it finds nothing new.
    expect(some.state).toEqual(all.state);
  });
});
