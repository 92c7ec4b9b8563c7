import type { Ticket } from '../../schemas/canonical.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf } from '../sdk/response.ts';
import type { ZendeskClient } from './zendesk.client.ts';
import type { ZdAttachment, ZdComment, ZdTicket } from './zendesk.types.ts';

/** How the ticket stream reads comments: one List Comments per ticket, from the ticket event export, or chosen per read. */
export type CommentSource = 'per-ticket' | 'events' | 'auto';

const EVENTS_PATH = '/api/v2/incremental/ticket_events.json';

interface ChildEvent {
  id: number;
  event_type?: string;
  type?: string;
  author_id?: number | null;
  body?: string;
  html_body?: string;
  plain_body?: string;
  public?: boolean;
  attachments?: ZdAttachment[];
  audit_id?: number;
  via?: unknown;
  created_at?: string;
}

interface TicketEvent {
  id: number;
  ticket_id: number;
  timestamp?: number;
  created_at?: string;
  child_events?: ChildEvent[];
}

interface EventsBody {
  end_time?: number;
  end_of_stream?: boolean;
  [key: string]: unknown;
}

const epoch = (iso: string | null | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

/** An inline image shows in the HTML; the event export does not list inline images among a comment's attachments. */
const SHOWS_IMAGE = /<img\b/i;

/**
 * Whether a read from the export's beginning can take this ticket's comments from the events, as far as the
 * ticket itself tells: its earliest comment is its description (same second as the ticket) and no comment
 * shows an inline image. The other reasons to fall back (events let go, a start time refused as too recent, a
 * ticket read twice) depend on the read's timing, not on the ticket. `hdm estimate` asks it of its sample.
 */
export function eventsCanCover(ticket: Ticket): boolean {
  const first = ticket.comments[0];
  if (!first) return false;
  if (epoch(first.createdAt) !== epoch(ticket.createdAt)) return false;
  return !ticket.comments.some((c) => SHOWS_IMAGE.test(c.body));
}

/**
 * The comments of exported tickets, taken from the time-based Incremental Ticket Event Export with the
 * `comment_events` sideload ("Incremental Exports" → "Incremental Ticket Event Export"): each Comment child
 * event is the comment a ticket update added. A helper read beside the ticket export, never a stream: it
 * keeps no state across reads and moves no cursor.
 *
 * It holds every comment event with a timestamp from `from` on, for tickets not yet handed on, and reads
 * the export forward as far as the tickets of an export page need. A ticket's comments are all covered when
 * the ticket was created at or after `from` (no comment of it is older than the ticket), the export was read
 * past the ticket's `generated_timestamp` or to its end after the ticket was read, no event of it was let go,
 * its earliest comment is its description (created with the ticket), and no comment shows an inline image.
 * Any other ticket is read with List Comments, as without this helper.
 *
 * Memory is bounded by `maxHeld` comment events: past it the oldest are let go and `from` moves past them, so
 * the tickets they belonged to fall back. A second holding more events than a page (the time-based exports
 * cannot page inside one second) is skipped the same way.
 */
export class CommentEventWindow {
  /** Every comment event at or after this second is held (its ticket not yet handed on). */
  private from: number;
  /** start_time of the next request. */
  private next: number;
  /** Every event before this second has been read. */
  private complete: number;
  /** Sequence number of the latest request that answered end_of_stream, -1 if none. */
  private exhaustedBy = -1;
  private held = 0;
  private readonly byTicket = new Map<number, Map<number, ZdComment>>();
  /** Held events in arrival (time) order, for letting the oldest go. */
  private readonly order: { ts: number; ticket: number; comment: number }[] = [];
  private orderHead = 0;
  /** Tickets already handed on in this read: later events of theirs are not held. */
  private readonly spent = new Set<number>();

  constructor(
    private readonly client: ZendeskClient,
    start: number,
    private readonly sequence: () => number,
    private readonly options: { perPage: number; maxHeld: number },
  ) {
    this.from = start;
    this.next = start;
    this.complete = start;
  }

  /** Reads the export until it covers tickets generated up to `upTo` that were read at sequence `readAt`. */
  async advance(upTo: number, readAt: number): Promise<void> {
    while (this.complete <= upTo && this.exhaustedBy < readAt) {
      const seq = this.sequence();
      const start = this.next;
      let body: EventsBody;
      try {
        body = await this.client.get<EventsBody>(EVENTS_PATH, { start_time: start, include: 'comment_events', per_page: this.options.perPage });
      } catch (err) {
        // "Too recent start_time": nothing more can be read yet, and the events of that second past the
        // previous page are unknown. Only what lies before it counts as read; later tickets fall back.
        if (err instanceof HdmError && err.context.httpStatus === 422 && /too recent start_time/i.test(JSON.stringify(err.context.body ?? ''))) return;
        throw err;
      }
      const events = listOf<TicketEvent>(body, 'ticket_events', { platform: 'zendesk', path: EVENTS_PATH });
      for (const e of events) this.hold(e);
      const end = typeof body.end_time === 'number' ? body.end_time : start;
      if (body.end_of_stream !== false) {
        this.exhaustedBy = seq;
        if (end > this.next) this.complete = this.next = end;
        this.trim();
        return;
      }
      if (end > start) {
        this.complete = this.next = end;
      } else {
        // More events in one second than a page holds: that second cannot be read whole.
        this.letGoThrough(start);
        this.complete = this.next = start + 1;
      }
      this.trim();
    }
  }

  /** The ticket's comments when the events cover them all; null when List Comments must be read. */
  take(t: ZdTicket, readAt: number): ZdComment[] | null {
    const held = this.byTicket.get(t.id);
    const spent = this.spent.has(t.id);
    this.byTicket.delete(t.id);
    this.spent.add(t.id);
    if (held) this.held -= held.size;
    if (spent || !held || held.size === 0) return null;
    if (epoch(t.created_at) < this.from) return null;
    const stamp = t.generated_timestamp ?? epoch(t.updated_at);
    if (stamp >= this.complete && this.exhaustedBy < readAt) return null;
    const comments = [...held.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
    if (epoch(comments[0].created_at) !== epoch(t.created_at)) return null;
    if (comments.some((c) => SHOWS_IMAGE.test(c.html_body ?? ''))) return null;
    return comments;
  }

  /** A ticket handed on without the events (deleted): later events of it are not held. */
  drop(ticketId: number): void {
    const held = this.byTicket.get(ticketId);
    if (held) this.held -= held.size;
    this.byTicket.delete(ticketId);
    this.spent.add(ticketId);
  }

  private hold(e: TicketEvent): void {
    if (this.spent.has(e.ticket_id)) return;
    const ts = typeof e.timestamp === 'number' ? e.timestamp : epoch(e.created_at);
    if (ts < this.from) return;
    for (const c of e.child_events ?? []) {
      if ((c.event_type ?? c.type) !== 'Comment' || typeof c.id !== 'number') continue;
      let comments = this.byTicket.get(e.ticket_id);
      if (!comments) this.byTicket.set(e.ticket_id, (comments = new Map()));
      // A time-based page starts at the previous one's end_time: the events of that second come twice.
      if (comments.has(c.id)) continue;
      comments.set(c.id, {
        id: c.id,
        type: 'Comment',
        author_id: c.author_id ?? null,
        body: c.body ?? c.plain_body ?? '',
        html_body: c.html_body ?? c.body ?? '',
        plain_body: c.plain_body ?? c.body ?? '',
        public: c.public !== false,
        audit_id: c.audit_id ?? e.id,
        attachments: c.attachments ?? [],
        via: c.via,
        created_at: c.created_at ?? e.created_at ?? new Date(ts * 1000).toISOString(),
      });
      this.held += 1;
      this.order.push({ ts, ticket: e.ticket_id, comment: c.id });
    }
  }

  /** Lets go the oldest events while more than `maxHeld` are held; `from` moves past the last second let go. */
  private trim(): void {
    if (this.order.length - this.orderHead > 2 * this.held + 4096) {
      // Entries of tickets already handed on are only markers now.
      const live = this.order.slice(this.orderHead).filter((o) => this.byTicket.get(o.ticket)?.has(o.comment));
      this.order.length = 0;
      for (const o of live) this.order.push(o);
      this.orderHead = 0;
    }
    if (this.held <= this.options.maxHeld) return;
    let last = this.from - 1;
    while (this.held > this.options.maxHeld && this.orderHead < this.order.length) {
      last = this.order[this.orderHead].ts;
      this.letGoOne();
    }
    this.letGoThrough(last);
  }

  /** Lets go every held event up to and including second `ts`, so that all from `ts + 1` on are held. */
  private letGoThrough(ts: number): void {
    while (this.orderHead < this.order.length && this.order[this.orderHead].ts <= ts) this.letGoOne();
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
    if (ts + 1 > this.from) this.from = ts + 1;
  }

  private letGoOne(): void {
    const { ticket, comment } = this.order[this.orderHead++];
    const comments = this.byTicket.get(ticket);
    if (comments?.delete(comment)) this.held -= 1;
  }
}
