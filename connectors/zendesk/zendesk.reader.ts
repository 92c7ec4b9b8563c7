import type { AttachmentMeta, EntityName, EntityTypes, Envelope } from '../../schemas/canonical.ts';
import type { IdRange, Page, ReadOptions, StreamDescriptor, StreamState } from '../sdk/contract.ts';
import { InstantMark, overlapOf, readCursor, sinceWithOverlap, writeCursor } from '../sdk/cursor.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf, StallGuard } from '../sdk/response.ts';
import type { ZendeskClient } from './zendesk.client.ts';
import { CommentEventWindow, type CommentSource } from './zendesk.comment-events.ts';
import {
  FieldCatalog,
  isAgentUser,
  listedTicket,
  toCanonicalAgent,
  toCanonicalArticle,
  toCanonicalCategory,
  toCanonicalContact,
  toCanonicalGroup,
  toCanonicalOrganization,
  toCanonicalSection,
  toCanonicalTicket,
  toCanonicalTicketField,
} from './zendesk.mapping.ts';
import type {
  ZdArticle,
  ZdCategory,
  ZdComment,
  ZdGroup,
  ZdGroupMembership,
  ZdOrganization,
  ZdSection,
  ZdTicket,
  ZdTicketField,
  ZdTranslation,
  ZdUser,
} from './zendesk.types.ts';

export interface ZendeskReaderOptions {
  /** Records per incremental export request (Zendesk allows up to 1000). Default 1000. */
  exportPageSize?: number;
  /** Records per list request (Zendesk allows up to 100). Default 100. */
  pageSize?: number;
  /** Tickets per yielded page: comments are fetched for this many tickets at a time. Default 100. */
  ticketBatch?: number;
  /** Delta passes read the latest ticket changes from List Tickets first (the fast lane). Default true. */
  fastLane?: boolean;
  /** List Tickets pages the fast lane reads at most per pass; what lies beyond comes with the export. Default 10. */
  fastLanePages?: number;
  /**
   * Where the ticket stream reads comments: `per-ticket` (List Comments for each ticket), `events` (the
   * Incremental Ticket Event Export with comment events, List Comments for the tickets it cannot cover) or
   * `auto` (events for a read from the export's beginning, per-ticket for resumes and delta passes).
   * Default `per-ticket`.
   */
  comments?: CommentSource;
  /** Comment events the `events` source holds at most while their tickets are still to come. Default 50000. */
  commentEventsHeld?: number;
}

interface ExportBody {
  after_cursor?: string | null;
  end_of_stream?: boolean;
  end_time?: number;
  [key: string]: unknown;
}

const STREAMS: StreamDescriptor[] = [
  { entity: 'group', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'agent', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true },
  { entity: 'organization', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true },
  { entity: 'contact', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true },
  { entity: 'ticketField', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'ticket', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true, windows: true },
  { entity: 'kbCategory', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'kbSection', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'kbArticle', primaryKey: 'sourceId', cursorField: null, sorted: false },
];

/**
 * How long after its `updated_at` second the fast lane takes a ticket version as final: one second for the
 * field's resolution, four for the platform's clock running ahead of ours. Younger versions are read again.
 */
const LANE_SETTLED_MS = 5_000;
const epoch = (iso: string | null | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);
const isoOfEpoch = (s: number): string => new Date(s * 1000).toISOString();
const laterIso = (a: string | null, b: string | null): string | null => (!a ? b : !b ? a : Date.parse(a) >= Date.parse(b) ? a : b);

/** A 422 "Too recent start_time": nothing can be exported yet from there, which is not an error. */
function isTooRecent(err: unknown): boolean {
  return err instanceof HdmError && err.context.httpStatus === 422 && /too recent start_time/i.test(JSON.stringify(err.context.body ?? ''));
}

/** Reads a Zendesk account into canonical records. */
export class ZendeskReader {
  constructor(
    private readonly client: ZendeskClient,
    private readonly options: ZendeskReaderOptions = {},
  ) {}

  streams(): StreamDescriptor[] {
    // Comments from ticket events are joined by time from the read's start: a window starting late would
    // find most of its tickets' comments before it and fall back to List Comments after paying for events.
    const events = this.options.comments === 'events';
    return STREAMS.map((s) => ({
      ...s,
      ...(s.windows && events ? { windows: false } : {}),
      ...(s.entity === 'ticket' && this.options.fastLane !== false ? { fastLane: true } : {}),
    }));
  }

  private cachedCatalog: { at: number; catalog: Promise<FieldCatalog> } | null = null;

  /** Per ticket, the `updated_at` the fast lane last handed on: one version is read once by that lane. */
  private readonly fastLaneSeen = new Map<number, string>();

  /** Versions the latest `lane: 'fast'` read handed on, left out by the `lane: 'export'` read that follows it. */
  private laneHandedOn = new Map<number, string>();

  /** The account's custom ticket fields; `maxAgeMs` > 0 reuses a recent copy (single-record reads). */
  fieldCatalog(maxAgeMs = 0): Promise<FieldCatalog> {
    if (this.cachedCatalog && Date.now() - this.cachedCatalog.at <= maxAgeMs) return this.cachedCatalog.catalog;
    const catalog = this.client.all<ZdTicketField>('/api/v2/ticket_fields.json', 'ticket_fields').then((fields) => new FieldCatalog(fields));
    this.cachedCatalog = { at: Date.now(), catalog };
    catalog.catch(() => (this.cachedCatalog = null));
    return catalog;
  }

  private get exportPageSize(): number {
    return Math.min(1000, this.options.exportPageSize ?? 1000);
  }

  private get pageSize(): number {
    return Math.min(100, this.options.pageSize ?? 100);
  }

  /** start_time for a time-based resume: the saved point less the overlap, never within Zendesk's last minute. */
  private startTime(from: number, options: ReadOptions | undefined): number {
    return Math.min(Math.floor(sinceWithOverlap(from * 1000, overlapOf(options)) / 1000), Math.floor(Date.now() / 1000) - 61);
  }

  async *read<E extends EntityName>(entity: E, state: StreamState | null, options?: ReadOptions): AsyncGenerator<Page<E>> {
    const pages = this.readAny(entity, state, options) as AsyncGenerator<Page<E>>;
    for await (const page of pages) {
      // Ending quietly here would pass for the end of the stream.
      if (options?.signal?.aborted) throw new HdmError('INTERRUPTED', `zendesk ${entity} read stopped on request`, { retryable: false, context: { platform: 'zendesk', entity } });
      yield page;
    }
  }

  private readAny(entity: EntityName, state: StreamState | null, options: ReadOptions | undefined): AsyncGenerator<Page> {
    switch (entity) {
      case 'ticket':
        return this.readTickets(state, options);
      case 'agent':
      case 'contact':
        return this.readUsers(entity, state, options);
      case 'organization':
        return this.readOrganizations(state, options);
      case 'group':
        return this.readList<ZdGroup>('group', '/api/v2/groups.json', 'groups', (g) => (g.deleted ? null : toCanonicalGroup(g)));
      case 'ticketField':
        return this.readList<ZdTicketField>('ticketField', '/api/v2/ticket_fields.json', 'ticket_fields', toCanonicalTicketField, false);
      case 'kbCategory':
        return this.readList<ZdCategory>('kbCategory', '/api/v2/help_center/categories.json', 'categories', toCanonicalCategory);
      case 'kbSection':
        return this.readList<ZdSection>('kbSection', '/api/v2/help_center/sections.json', 'sections', toCanonicalSection);
      case 'kbArticle':
        return this.readArticles();
    }
  }

  private upsert<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string | null = null): Envelope<E> {
    return { entity, op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record, stamp };
  }

  private async *readList<T>(
    entity: EntityName,
    path: string,
    key: string,
    map: (item: T) => EntityTypes[EntityName] | null,
    cursorPagination = true,
  ): AsyncGenerator<Page> {
    const query = cursorPagination ? { 'page[size]': this.pageSize } : { per_page: this.pageSize };
    let any = false;
    for await (const items of this.client.pages<T>(path, key, query)) {
      const records = items.flatMap((item) => {
        const record = map(item);
        return record ? [this.upsert(entity, record)] : [];
      });
      any = true;
      yield { records, state: { cursor: null, coveredUntil: null } };
    }
    if (!any) yield { records: [], state: { cursor: null, coveredUntil: null } };
  }

  private async *readArticles(): AsyncGenerator<Page> {
    for await (const articles of this.client.pages<ZdArticle>('/api/v2/help_center/articles.json', 'articles', { 'page[size]': this.pageSize })) {
      const records = await Promise.all(
        articles.map(async (a) => this.upsert('kbArticle', toCanonicalArticle(a, await this.translations(a.id)))),
      );
      yield { records, state: { cursor: null, coveredUntil: null } };
    }
  }

  async translations(articleId: number | string): Promise<ZdTranslation[]> {
    return this.client.all<ZdTranslation>(`/api/v2/help_center/articles/${articleId}/translations.json`, 'translations', { per_page: this.pageSize });
  }

  async comments(ticketId: number | string): Promise<ZdComment[]> {
    return this.client.all<ZdComment>(`/api/v2/tickets/${ticketId}/comments.json`, 'comments', {
      include_inline_images: true,
      'page[size]': this.pageSize,
    });
  }

  /**
   * Where a cursor-based export resumes: from `coveredUntil` less the overlap whenever the saved
   * state has it, so a record changed in the same second as the last one read is read again rather
   * than skipped (an `after_cursor` points past that second); from the saved `after_cursor` only
   * when no time is known.
   */
  private resumeQuery(state: StreamState | null, options: ReadOptions | undefined): Record<string, string | number> {
    if (state?.coveredUntil) return { start_time: this.startTime(epoch(state.coveredUntil), options) };
    const saved = readCursor<{ after?: unknown }>(state, 'zendesk');
    return typeof saved?.after === 'string' ? { cursor: saved.after } : { start_time: 0 };
  }

  /**
   * One page of a cursor-based export, or null when Zendesk answers that the start time is too
   * recent (nothing new yet). A cursor Zendesk no longer accepts falls back to the saved time less
   * the overlap.
   */
  private async exportPage(
    path: string,
    query: Record<string, string | number>,
    coveredUntil: string | null,
    options: ReadOptions | undefined,
    waitForBudget = true,
  ): Promise<ExportBody | null> {
    try {
      return await this.client.get<ExportBody>(path, { ...query, per_page: this.exportPageSize }, { waitForBudget });
    } catch (err) {
      if (isTooRecent(err)) return null;
      if ('cursor' in query && err instanceof HdmError && err.code === 'REJECTED') {
        return this.exportPage(path, { start_time: this.startTime(epoch(coveredUntil), options) }, coveredUntil, options, waitForBudget);
      }
      throw err;
    }
  }

  /**
   * Tickets through the cursor-based incremental export, each carried with all its comments, resumed
   * as `resumeQuery` says (and from `coveredUntil` less the overlap if Zendesk rejects a cursor).
   */
  private async *readTickets(state: StreamState | null, options: ReadOptions | undefined): AsyncGenerator<Page> {
    // A window is taken by the export's own order (`generated_timestamp`), in whole seconds.
    const window = options?.window;
    const fromSec = window?.from ? Math.ceil(Date.parse(window.from) / 1000) : null;
    const untilSec = window?.until ? Math.ceil(Date.parse(window.until) / 1000) : null;
    const placeOf = (t: ZdTicket) => t.generated_timestamp ?? epoch(t.updated_at);
    const inWindow = (t: ZdTicket) => (fromSec === null || placeOf(t) >= fromSec) && (untilSec === null || placeOf(t) < untilSec);
    let query: Record<string, string | number> = !state && fromSec !== null ? { start_time: Math.min(fromSec, Math.floor(Date.now() / 1000) - 61) } : this.resumeQuery(state, options);
    let current: StreamState = state ?? { cursor: null, coveredUntil: null };
    const catalog = await this.fieldCatalog();
    const batch = Math.max(1, this.options.ticketBatch ?? 100);
    // Versions the fast lane handed on in this pass: the export lane does not hand them on again, so a
    // pass counts each record once (a failed one is tried again by the next pass, whose export reads it
    // anew: the cursor does not move past a failure).
    let laneThisPass = new Map<number, string>();
    const laneOn = options?.delta === true && this.options.fastLane !== false && !!state?.coveredUntil;
    if (options?.lane === 'fast') {
      this.laneHandedOn = new Map();
      if (laneOn) yield* this.readRecentTickets(state!, catalog, options, this.laneHandedOn);
      return;
    }
    if (options?.lane === 'export') {
      laneThisPass = this.laneHandedOn;
      this.laneHandedOn = new Map();
    } else if (laneOn) yield* this.readRecentTickets(state!, catalog, options, laneThisPass);
    const endpoint = { platform: 'zendesk', path: '/api/v2/incremental/tickets/cursor.json' };
    const guard = new StallGuard(endpoint);
    let sequence = 0;
    const events = this.commentEvents(query, options, () => ++sequence);
    let waitForBudget = options?.waitForBudget !== false;
    for (;;) {
      const readAt = ++sequence;
      const body = await this.exportPage(endpoint.path, query, current.coveredUntil, options, waitForBudget);
      waitForBudget = true;
      if (!body) return;
      const listed = listOf<ZdTicket>(body, 'tickets', endpoint);
      const tickets = window ? listed.filter(inWindow) : listed;
      const passed = untilSec !== null && listed.some((t) => placeOf(t) >= untilSec);
      const fromEvents = new Map<number, ZdComment[]>();
      if (events && tickets.length > 0) {
        await events.advance(Math.max(...tickets.map((t) => t.generated_timestamp ?? epoch(t.updated_at))), readAt);
        for (const t of tickets) {
          if (t.status === 'deleted') events.drop(t.id);
          else {
            const comments = events.take(t, readAt);
            if (comments) fromEvents.set(t.id, comments);
          }
        }
      }
      let covered = current.coveredUntil;
      for (const t of listed) covered = laterIso(covered, isoOfEpoch(placeOf(t)));
      const next: StreamState = { cursor: body.after_cursor ? writeCursor({ after: body.after_cursor }) : current.cursor, coveredUntil: covered };
      // What the read does not want costs its place on the export page, nothing more.
      const wanted = tickets.filter((t) => laneThisPass.get(t.id) !== t.updated_at && this.wanted(t, options));
      if (wanted.length === 0) {
        if (next.cursor !== current.cursor || next.coveredUntil !== current.coveredUntil) yield { records: [], state: next };
      }
      for (let i = 0; i < wanted.length; i += batch) {
        const chunk = wanted.slice(i, i + batch);
        const records = (await Promise.all(chunk.map((t) => this.ticketEnvelope(t, catalog, fromEvents.get(t.id))))).filter((e): e is Envelope<'ticket'> => e !== null);
        // Zendesk's cursor covers the whole export page: earlier chunks keep the previous state.
        yield { records, state: i + batch >= wanted.length ? next : current };
      }
      current = next;
      if (passed || body.end_of_stream !== false || !body.after_cursor) return;
      guard.page(body.after_cursor !== query.cursor, body.after_cursor);
      query = { cursor: body.after_cursor };
    }
  }

  /**
   * The fast lane of a delta pass. The incremental exports leave out "any items that were created or
   * changed within the minute prior to your request" ("Using the Incremental Export API"), so a change
   * reaches the export a minute late at best. List Tickets has no such delay and sorts by `updated_at`,
   * descending on request ("Tickets" → "List Tickets": `sort_by`, `sort_order`; cursor pagination): it is
   * read from the newest ticket back to the export's cursor, each ticket carried with all its comments as
   * the export's are. It draws from the List Tickets bucket (and the account's), paced like every
   * request, and reads at most `fastLanePages` pages a pass.
   *
   * Its pages carry the state the pass started from, so the export's cursor moves exactly as it would
   * without it. The export stays the net for what this lane cannot see: archived and deleted tickets
   * (List Tickets leaves them out), changes beyond its pages, a change that reorders the list while it
   * is read. A version both lanes read in one pass is handed on once, by the fast lane; read again by a
   * later pass, the loader's version check answers `unchanged`. A version younger than `LANE_SETTLED_MS`
   * is not remembered by the lane past the pass: another change may still share its second.
   */
  private async *readRecentTickets(state: StreamState, catalog: FieldCatalog, options: ReadOptions | undefined, handedOn: Map<number, string>): AsyncGenerator<Page> {
    const since = Date.parse(state.coveredUntil!);
    const maxPages = Math.max(1, this.options.fastLanePages ?? 10);
    let pages = 0;
    const list = this.client.pages<ZdTicket>('/api/v2/tickets.json', 'tickets', { sort_by: 'updated_at', sort_order: 'desc', 'page[size]': this.pageSize });
    for await (const tickets of list) {
      pages += 1;
      const recent = tickets.filter((t) => Date.parse(t.updated_at) >= since);
      const unseen = recent.filter((t) => this.fastLaneSeen.get(t.id) !== t.updated_at && this.wanted(t, options));
      const records = (await Promise.all(unseen.map((t) => this.ticketEnvelope(t, catalog)))).filter((e): e is Envelope<'ticket'> => e !== null);
      // Zendesk's updated_at counts whole seconds: a version read while its second may still be open (or
      // the platform's clock runs ahead of ours) is not remembered past this pass, so a second change within
      // that second is read by the next pass's lane, not taken for the version already handed on. This
      // pass's export leaves every version the lane handed on out: with the documented exclusion it cannot
      // show a version that young anyway.
      const settledBefore = Date.now() - LANE_SETTLED_MS;
      for (const t of unseen) {
        handedOn.set(t.id, t.updated_at);
        if (Date.parse(t.updated_at) <= settledBefore) this.fastLaneSeen.set(t.id, t.updated_at);
      }
      if (records.length > 0) yield { records, state };
      if (recent.length < tickets.length || pages >= maxPages) break;
    }
    // What lies before the export's cursor is the export's alone from now on.
    for (const [id, at] of this.fastLaneSeen) if (Date.parse(at) < since) this.fastLaneSeen.delete(id);
  }

  /** The raw ticket export from the beginning, page by page, without comments. */
  async *exportedTickets(signal?: AbortSignal): AsyncGenerator<ZdTicket[]> {
    let query: Record<string, string | number> = { start_time: 0 };
    for (;;) {
      signal?.throwIfAborted();
      const body = await this.exportPage('/api/v2/incremental/tickets/cursor.json', query, null, undefined);
      if (!body) return;
      yield (body.tickets as ZdTicket[] | undefined) ?? [];
      if (body.end_of_stream !== false || !body.after_cursor) return;
      query = { cursor: body.after_cursor };
    }
  }

  /**
   * The comment-events helper for one ticket read, or null when this read takes comments per ticket. `auto`
   * uses the events for a read from the export's beginning only: a resume or a delta pass reads tickets
   * whose comments mostly predate its window, which would fall back anyway after spending export requests.
   */
  private commentEvents(query: Record<string, string | number>, options: ReadOptions | undefined, sequence: () => number): CommentEventWindow | null {
    const mode = this.options.comments ?? 'per-ticket';
    if (mode === 'per-ticket' || typeof query.start_time !== 'number') return null;
    if (mode === 'auto' && (query.start_time !== 0 || options?.delta)) return null;
    return new CommentEventWindow(this.client, query.start_time, sequence, {
      perPage: this.exportPageSize,
      maxHeld: Math.max(1, this.options.commentEventsHeld ?? 50_000),
    });
  }

  /** Whether the read asked for this ticket (`ReadOptions.only`); a deletion always is. */
  private wanted(t: ZdTicket, options: ReadOptions | undefined): boolean {
    return !options?.only || t.status === 'deleted' || options.only(listedTicket(t));
  }

  private async ticketEnvelope(t: ZdTicket, catalog: FieldCatalog, known?: ZdComment[]): Promise<Envelope<'ticket'> | null> {
    const updatedAt = new Date(Date.parse(t.updated_at)).toISOString();
    if (t.status === 'deleted') return { entity: 'ticket', op: 'delete', sourceId: String(t.id), updatedAt, record: null };
    if (known) return this.upsert('ticket', toCanonicalTicket(t, known, catalog), t.external_id ?? null);
    let comments: ZdComment[];
    try {
      comments = await this.comments(t.id);
    } catch (err) {
      // Deleted between the export page and this request: the next export shows the deletion.
      if (err instanceof HdmError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    return this.upsert('ticket', toCanonicalTicket(t, comments, catalog), t.external_id ?? null);
  }

  /** Agents and contacts both come from the cursor-based user export, split by role. */
  private async *readUsers(entity: 'agent' | 'contact', state: StreamState | null, options: ReadOptions | undefined): AsyncGenerator<Page> {
    let query = this.resumeQuery(state, options);
    let current: StreamState = state ?? { cursor: null, coveredUntil: null };
    // Read once the export's first page is in: a read deferred for want of export budget costs nothing.
    let groups: Map<number, number[]> | null = entity === 'agent' ? null : new Map<number, number[]>();
    const endpoint = { platform: 'zendesk', path: '/api/v2/incremental/users/cursor.json' };
    const guard = new StallGuard(endpoint);
    let waitForBudget = options?.waitForBudget !== false;
    for (;;) {
      const body = await this.exportPage(endpoint.path, query, current.coveredUntil, options, waitForBudget);
      waitForBudget = true;
      if (!body) return;
      const users = listOf<ZdUser>(body, 'users', endpoint);
      groups ??= await this.memberships();
      let covered = current.coveredUntil;
      const records: Envelope[] = [];
      for (const u of users) {
        covered = laterIso(covered, new Date(Date.parse(u.updated_at)).toISOString());
        if (isAgentUser(u) !== (entity === 'agent')) continue;
        if (entity === 'agent') records.push(this.upsert('agent', toCanonicalAgent(u, groups.get(u.id) ?? []), u.external_id));
        else if (u.active === false) records.push({ entity: 'contact', op: 'delete', sourceId: String(u.id), updatedAt: new Date(Date.parse(u.updated_at)).toISOString(), record: null });
        else records.push(this.upsert('contact', toCanonicalContact(u), u.external_id));
      }
      const next: StreamState = { cursor: body.after_cursor ? writeCursor({ after: body.after_cursor }) : current.cursor, coveredUntil: covered };
      if (records.length > 0 || next.cursor !== current.cursor) yield { records, state: next };
      current = next;
      if (body.end_of_stream !== false || !body.after_cursor) return;
      guard.page(body.after_cursor !== query.cursor, body.after_cursor);
      query = { cursor: body.after_cursor };
    }
  }

  async memberships(userId?: number | string): Promise<Map<number, number[]>> {
    const path = userId === undefined ? '/api/v2/group_memberships.json' : `/api/v2/users/${userId}/group_memberships.json`;
    const out = new Map<number, number[]>();
    for (const m of await this.client.all<ZdGroupMembership>(path, 'group_memberships', { 'page[size]': this.pageSize })) {
      out.set(m.user_id, [...(out.get(m.user_id) ?? []), m.group_id]);
    }
    return out;
  }

  /**
   * Organizations through the time-based incremental export, the only export Zendesk has for them
   * ("Using the Incremental Export API" → "Time-based incremental exports"). A page ends at
   * `end_time`, the timestamp of its last record, and the next page starts there, so the records at
   * that second come twice: the ones already yielded are skipped.
   *
   * When more organizations share one second than a page holds, Zendesk answers a page whose records
   * all carry its start second, with `end_time` equal to `start_time` and `next_page` repeating the
   * request: following it loops forever, stepping a second past it skips the rest of that second.
   * The export cannot page inside a second, so that second is read from List Organizations with
   * cursor pagination ("Organizations" → "List Organizations"; "Pagination" → "Cursor pagination"),
   * keeping those whose `updated_at` is that second; then the export goes on from the next second.
   * An organization changed during that sweep has left the second and comes with the export after it.
   * The list leaves deleted organizations out, so a deletion stamped in such a second beyond the
   * export's page is not seen here (Zendesk offers no list of deleted organizations).
   */
  private async *readOrganizations(state: StreamState | null, options: ReadOptions | undefined): AsyncGenerator<Page> {
    const saved = readCursor<{ start?: unknown }>(state, 'zendesk');
    let start = typeof saved?.start === 'number' ? this.startTime(saved.start, options) : state?.coveredUntil ? this.startTime(epoch(state.coveredUntil), options) : 0;
    /** IDs already yielded whose updated_at is the second `start`. */
    let seenAtStart = new InstantMark<number, number>(start);
    const endpoint = { platform: 'zendesk', path: '/api/v2/incremental/organizations.json' };
    const guard = new StallGuard(endpoint);
    const envelope = (o: ZdOrganization): Envelope => {
      const updatedAt = new Date(Date.parse(o.updated_at)).toISOString();
      if (o.deleted_at) return { entity: 'organization', op: 'delete', sourceId: String(o.id), updatedAt, record: null };
      return this.upsert('organization', toCanonicalOrganization(o), o.external_id);
    };
    let waitForBudget = options?.waitForBudget !== false;
    for (;;) {
      let body: ExportBody;
      try {
        body = await this.client.get<ExportBody>(endpoint.path, { start_time: start, per_page: this.exportPageSize }, { waitForBudget });
        waitForBudget = true;
      } catch (err) {
        if (isTooRecent(err)) return;
        throw err;
      }
      const orgs = listOf<ZdOrganization>(body, 'organizations', endpoint);
      const endTime = typeof body.end_time === 'number' ? body.end_time : start;
      const records: Envelope[] = [];
      for (const o of orgs) {
        if (seenAtStart.seen(epoch(o.updated_at), o.id)) continue;
        records.push(envelope(o));
      }
      const more = body.end_of_stream === false;
      if (more && endTime <= start && orgs.length > 0) {
        // A full page inside one second: keep the state at that second until all of it is read.
        for (const o of orgs) if (epoch(o.updated_at) === start) seenAtStart.add(start, o.id);
        const atStart: StreamState = { cursor: writeCursor({ start }), coveredUntil: isoOfEpoch(start - 1) };
        if (records.length > 0) yield { records, state: atStart };
        for await (const page of this.client.pages<ZdOrganization>('/api/v2/organizations.json', 'organizations', { 'page[size]': this.pageSize })) {
          const rest = page.filter((o) => epoch(o.updated_at) === start && !seenAtStart.seen(start, o.id));
          for (const o of rest) seenAtStart.add(start, o.id);
          if (rest.length > 0) yield { records: rest.map(envelope), state: atStart };
        }
        yield { records: [], state: { cursor: writeCursor({ start: start + 1 }), coveredUntil: isoOfEpoch(start) } };
        guard.page(true, String(start));
        start += 1;
        seenAtStart = new InstantMark(start);
        continue;
      }
      yield { records, state: { cursor: writeCursor({ start: endTime }), coveredUntil: isoOfEpoch(endTime) } };
      if (!more) return;
      // An empty page, or one ending before where it was asked to start, moves nothing forward.
      guard.page(endTime > start, String(start));
      if (endTime > start) {
        seenAtStart = new InstantMark(endTime, orgs.filter((o) => epoch(o.updated_at) === endTime).map((o) => o.id));
        start = endTime;
      }
    }
  }

  async get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    const c = this.client;
    const one = async (): Promise<EntityTypes[EntityName] | null> => {
      switch (entity) {
        case 'ticket': {
          const body = await c.find<{ ticket: ZdTicket }>(`/api/v2/tickets/${id}.json`);
          if (!body || body.ticket.status === 'deleted') return null;
          const [comments, catalog] = await Promise.all([this.comments(id), this.fieldCatalog(30_000)]);
          return toCanonicalTicket(body.ticket, comments, catalog);
        }
        case 'agent':
        case 'contact': {
          const body = await c.find<{ user: ZdUser }>(`/api/v2/users/${id}.json`);
          if (!body || isAgentUser(body.user) !== (entity === 'agent')) return null;
          if (entity === 'contact') return body.user.active === false ? null : toCanonicalContact(body.user);
          return toCanonicalAgent(body.user, (await this.memberships(id)).get(body.user.id) ?? []);
        }
        case 'organization': {
          const body = await c.find<{ organization: ZdOrganization }>(`/api/v2/organizations/${id}.json`);
          return body ? toCanonicalOrganization(body.organization) : null;
        }
        case 'group': {
          const body = await c.find<{ group: ZdGroup }>(`/api/v2/groups/${id}.json`);
          return body && !body.group.deleted ? toCanonicalGroup(body.group) : null;
        }
        case 'ticketField': {
          const body = await c.find<{ ticket_field: ZdTicketField }>(`/api/v2/ticket_fields/${id}.json`);
          return body ? toCanonicalTicketField(body.ticket_field) : null;
        }
        case 'kbCategory': {
          const body = await c.find<{ category: ZdCategory }>(`/api/v2/help_center/categories/${id}.json`);
          return body ? toCanonicalCategory(body.category) : null;
        }
        case 'kbSection': {
          const body = await c.find<{ section: ZdSection }>(`/api/v2/help_center/sections/${id}.json`);
          return body ? toCanonicalSection(body.section) : null;
        }
        case 'kbArticle': {
          const body = await c.find<{ article: ZdArticle }>(`/api/v2/help_center/articles/${id}.json`);
          return body ? toCanonicalArticle(body.article, await this.translations(id)) : null;
        }
      }
    };
    return (await one()) as EntityTypes[E] | null;
  }

  async openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }> {
    if (!attachment.url) {
      throw new HdmError('ATTACHMENT_FAILED', `attachment ${attachment.sourceId} (${attachment.fileName}) has no content_url`, {
        retryable: false,
        context: { platform: 'zendesk', recordId: attachment.sourceId },
      });
    }
    const { body, contentType } = await this.client.download(attachment.url);
    return { body, contentType: attachment.contentType || contentType };
  }

  /**
   * Tickets only. An account numbers its tickets from 1; the highest is the first of the ticket list
   * sorted by ID, descending. The list leaves archived tickets out, so its ascending end would miss
   * the oldest ones (which `get` still reads): the range starts at 1 instead.
   */
  async idRange(entity: EntityName): Promise<IdRange | null> {
    if (entity !== 'ticket') return null;
    const body = await this.client.get<{ tickets: ZdTicket[] }>('/api/v2/tickets.json', { sort_by: 'id', sort_order: 'desc', per_page: '1' });
    const highest = body.tickets[0]?.id;
    return highest === undefined ? null : { lowest: 1, highest };
  }

  async count(entity: EntityName): Promise<number | null> {
    const value = async (path: string, query?: Record<string, string>) =>
      (await this.client.get<{ count: { value: number } }>(path, query)).count.value;
    switch (entity) {
      case 'ticket':
        return value('/api/v2/tickets/count.json');
      case 'organization':
        return value('/api/v2/organizations/count.json');
      case 'group':
        return value('/api/v2/groups/count.json');
      case 'contact':
        return value('/api/v2/users/count.json', { role: 'end-user' });
      case 'agent': {
        const [agents, admins] = await Promise.all([value('/api/v2/users/count.json', { role: 'agent' }), value('/api/v2/users/count.json', { role: 'admin' })]);
        return agents + admins;
      }
      // Help Center lists answer offset pagination with the total `count`.
      case 'kbCategory':
        return (await this.client.get<{ count: number }>('/api/v2/help_center/categories.json', { per_page: '1' })).count;
      case 'kbSection':
        return (await this.client.get<{ count: number }>('/api/v2/help_center/sections.json', { per_page: '1' })).count;
      case 'kbArticle':
        return (await this.client.get<{ count: number }>('/api/v2/help_center/articles.json', { per_page: '1' })).count;
      default:
        return null;
    }
  }
}
