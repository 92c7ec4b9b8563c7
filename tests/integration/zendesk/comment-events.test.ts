import { describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { connect, readAll, sandbox } from './helpers.ts';

// Integration: the ticket stream reading comments from the Incremental Ticket Event Export
// (`source.comments: events`) against the same seeded sandbox read with List Comments per ticket
// (`per-ticket`). Source: Zendesk "Incremental Exports" → "Incremental Ticket Event Export"
// (`include=comment_events`: each comment as a Comment child event of the update that added it).

const COMMENTS_ROUTE = 'GET /api/v2/tickets/:id/comments';
const EVENTS_ROUTE = 'GET /api/v2/incremental/ticket_events';

/** Requests per route served while `run` ran. */
async function counted<T>(sb: ZendeskSandbox, run: () => Promise<T>): Promise<{ result: T; routes: Record<string, number> }> {
  const before = sb.requestsByRoute();
  const result = await run();
  const after = sb.requestsByRoute();
  const routes = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
  return { result, routes };
}

const byId = (m: Map<string, Ticket>) => new Map([...m].sort(([a], [b]) => Number(a) - Number(b)));

describe('zendesk ticket comments from the ticket event export', () => {
  it('gives the same canonical tickets, every comment once and in order, with far fewer requests than one List Comments per ticket', async () => {
    const sb = await sandbox({ tickets: 60, seed: 71, maxComments: 5 });
    const perTicket = connect(sb, { comments: 'per-ticket' });
    const events = connect(sb, { comments: 'events' });
    try {
      const a = await counted(sb, () => readAll(perTicket, 'ticket'));
      const b = await counted(sb, () => readAll(events, 'ticket'));
      expect(a.result.upserts.size).toBe(60);
      expect(byId(b.result.upserts as Map<string, Ticket>)).toEqual(byId(a.result.upserts as Map<string, Ticket>));
      // The stream's cursor is the ticket export's, whichever way comments came.
      expect(b.result.state).toEqual(a.result.state);
      expect(b.result.pages.map((p) => p.state)).toEqual(a.result.pages.map((p) => p.state));
      const tickets = [...b.result.upserts.values()] as Ticket[];
      const ids = tickets.flatMap((t) => t.comments.map((c) => c.sourceId));
      expect(new Set(ids).size).toBe(ids.length);
      expect(tickets.some((t) => t.comments.some((c) => c.attachments.some((x) => x.inline)))).toBe(true);
      expect(tickets.some((t) => t.comments.some((c) => !c.public))).toBe(true);

      expect(a.routes[COMMENTS_ROUTE]).toBe(60);
      expect(a.routes[EVENTS_ROUTE]).toBeUndefined();
      expect(b.routes[EVENTS_ROUTE]).toBeGreaterThanOrEqual(1);
      // Only tickets whose comments show an inline image (which the export does not list) are read per ticket.
      const withInline = tickets.filter((t) => t.comments.some((c) => c.attachments.some((x) => x.inline))).length;
      expect(b.routes[COMMENTS_ROUTE] ?? 0).toBe(withInline);
      const total = (r: Record<string, number>) => Object.values(r).reduce((n, v) => n + v, 0);
      expect(total(b.routes)).toBeLessThan(total(a.routes) / 3);
    } finally {
      await perTicket.close();
      await events.close();
      await sb.close();
    }
  });

  it('falls back to List Comments for tickets whose comments lie partly before the events read: a resumed read after a late comment; auto reads events from the beginning only', async () => {
    const sb = await sandbox({
      tickets: 30,
      seed: 72,
      maxComments: 3,
      immediateExports: 'the resumed read must see a comment and a ticket written a moment before',
    });
    const perTicket = connect(sb, { comments: 'per-ticket' });
    const events = connect(sb, { comments: 'events' });
    try {
      const first = await readAll(events, 'ticket');
      expect(first.upserts.size).toBe(30);
      const saved = first.state!;
      // An old open ticket gets a comment (its earlier comments predate the resumed window); a new ticket is written.
      const old = [...first.upserts.values()].find((t) => t.status !== 'closed')!;
      sb.addComment(Number(old.sourceId), { body: 'late reply', public: false });
      const created = sb.createTicket({ subject: 'Written after the save', comment: { body: 'first words' } });
      const a = await counted(sb, () => readAll(perTicket, 'ticket', saved));
      const b = await counted(sb, () => readAll(events, 'ticket', saved));
      expect(byId(b.result.upserts as Map<string, Ticket>)).toEqual(byId(a.result.upserts as Map<string, Ticket>));
      expect(b.result.state).toEqual(a.result.state);
      const late = b.result.upserts.get(old.sourceId) as Ticket;
      expect(late.comments.length).toBe(old.comments.length + 1);
      expect(late.comments.slice(0, -1)).toEqual(old.comments);
      expect(late.comments.at(-1)!.public).toBe(false);
      expect(b.result.upserts.has(String(created.id))).toBe(true);
      // Every ticket of the resumed read was created before its window but the new one: all of them, and only them, fall back.
      expect(b.routes[COMMENTS_ROUTE]).toBe(b.result.upserts.size - 1);
      expect(b.routes[EVENTS_ROUTE]).toBeGreaterThanOrEqual(1);

      // `auto` reads the events for a read from the beginning only; a resumed read takes comments per ticket.
      const auto = connect(sb, { comments: 'auto' });
      try {
        const full = await counted(sb, () => readAll(auto, 'ticket'));
        expect(full.routes[EVENTS_ROUTE]).toBeGreaterThanOrEqual(1);
        expect(full.routes[COMMENTS_ROUTE] ?? 0).toBeLessThan(full.result.upserts.size);
        const resumed = await counted(sb, () => readAll(auto, 'ticket', saved));
        expect(resumed.routes[EVENTS_ROUTE]).toBeUndefined();
        expect(byId(resumed.result.upserts as Map<string, Ticket>)).toEqual(byId(a.result.upserts as Map<string, Ticket>));
      } finally {
        await auto.close();
      }
    } finally {
      await perTicket.close();
      await events.close();
      await sb.close();
    }
  });

  it('falls back for tickets whose events it had to let go (more comment events than it may hold), still identical', async () => {
    const sb = await sandbox({ tickets: 120, seed: 73, maxComments: 6 });
    const perTicket = connect(sb, { comments: 'per-ticket' });
    try {
      const a = await readAll(perTicket, 'ticket');
      // One export page of tickets and one of events per read: within the export budget of 10 a minute.
      const held = [10, 40, 150, 100_000];
      const fallbacks: number[] = [];
      for (const commentEventsHeld of held) {
        const tight = connect(sb, { comments: 'events', commentEventsHeld });
        try {
          const b = await counted(sb, () => readAll(tight, 'ticket'));
          expect(byId(b.result.upserts as Map<string, Ticket>), `holding ${commentEventsHeld}`).toEqual(byId(a.upserts as Map<string, Ticket>));
          fallbacks.push(b.routes[COMMENTS_ROUTE] ?? 0);
        } finally {
          await tight.close();
        }
      }
      // The fewer it may hold, the more tickets come per ticket; never more than all of them.
      expect(fallbacks[0]).toBeGreaterThan(fallbacks.at(-1)!);
      for (const n of fallbacks) expect(n).toBeLessThanOrEqual(120);
      expect(fallbacks.at(-1)!).toBeLessThan(120);
    } finally {
      await perTicket.close();
      await sb.close();
    }
  });
  it('falls back for a ticket with more events in one second than an export page holds (the time-based export cannot page inside it)', async () => {
    const sb = await sandbox({
      tickets: 3,
      seed: 74,
      maxComments: 1,
      immediateExports: 'the imported ticket must be exported at once',
      unthrottledExports: 'pages of 2 events and 2 tickets are more export requests than 10 a minute; the export limit has its own tests (limits.test.ts)',
    });
    const perTicket = connect(sb, { comments: 'per-ticket' });
    const small = connect(sb, { comments: 'events', exportPageSize: 2 });
    try {
      // Eight comments stamped in one second a day ago (the import API keeps given times, "Ticket Import").
      const at = new Date(Date.now() - 86_400_000).toISOString();
      const requester = [...sb.store.users.values()].find((u) => u.role === 'end-user')!.id;
      const comments = Array.from({ length: 8 }, (_, i) => ({ value: `reply ${i}`, author_id: requester, public: i % 3 !== 1, created_at: at }));
      const flooded = sb.store.importTicket({ subject: 'Many replies in one second', requester_id: requester, created_at: at, comments });
      const a = await readAll(perTicket, 'ticket');
      const b = await counted(sb, () => readAll(small, 'ticket'));
      expect((a.upserts.get(String(flooded.id)) as Ticket).comments.length).toBe(8);
      expect(byId(b.result.upserts as Map<string, Ticket>)).toEqual(byId(a.upserts as Map<string, Ticket>));
      expect(b.routes[EVENTS_ROUTE]).toBeGreaterThanOrEqual(1);
      // The seeded tickets' events lie before the import's day: the first ticket page takes both from the events.
      // The second page (the third seeded ticket and the import) meets the over-full second, which moves the
      // window's start past it: both are read per ticket.
      expect(b.routes[COMMENTS_ROUTE]).toBe(2);
    } finally {
      await perTicket.close();
      await small.close();
      await sb.close();
    }
  });

  it('reads nothing as covered past a start time Zendesk calls too recent: a ticket commented on a moment ago falls back', async () => {
    const sb = await sandbox({
      tickets: 3,
      seed: 75,
      maxComments: 1,
      immediateExports: 'the comments written a moment ago must be exported at once',
      unthrottledExports: 'pages of 2 events and 2 tickets are more export requests than 10 a minute; the export limit has its own tests (limits.test.ts)',
    });
    const perTicket = connect(sb, { comments: 'per-ticket' });
    const small = connect(sb, { comments: 'events', exportPageSize: 2 });
    try {
      // The events of that second come partly on a page that ends there; the next start time is refused (422).
      const fresh = sb.createTicket({ subject: 'Many replies at once', comment: { body: 'first words' } });
      for (let i = 0; i < 7; i++) sb.addComment(fresh.id, { body: `reply ${i}`, public: i % 2 === 0 });
      const a = await readAll(perTicket, 'ticket');
      const b = await counted(sb, () => readAll(small, 'ticket'));
      expect((a.upserts.get(String(fresh.id)) as Ticket).comments.length).toBe(8);
      expect(byId(b.result.upserts as Map<string, Ticket>)).toEqual(byId(a.upserts as Map<string, Ticket>));
      expect(b.routes[EVENTS_ROUTE]).toBeGreaterThanOrEqual(1);
      expect(b.routes[COMMENTS_ROUTE]).toBeGreaterThanOrEqual(1);
    } finally {
      await perTicket.close();
      await small.close();
      await sb.close();
    }
  });
});
