import type { IdRange, Page, ReadOptions, ReadWindow, StreamDescriptor, StreamState } from '../sdk/contract.ts';
import { overlapOf, readCursor, resumeAt, sinceWithOverlap, writeCursor } from '../sdk/cursor.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf } from '../sdk/response.ts';
import type { EntityName, EntityTypes, Envelope, KbArticle } from '../../schemas/canonical.ts';
import type { FreshdeskAccount } from './freshdesk.account.ts';
import type { FreshdeskClient } from './freshdesk.client.ts';
import {
  agentFromFd,
  articleFromFd,
  categoryFromFd,
  companyFromFd,
  contactFromFd,
  folderFromFd,
  groupFromFd,
  listedTicketFromFd,
  localeFromFd,
  ticketFieldFromFd,
  ticketFromFd,
  ticketStamp,
  ts,
  type FieldIndex,
} from './freshdesk.mapping.ts';
import type {
  FdAgent,
  FdArticle,
  FdCategory,
  FdCompany,
  FdContact,
  FdConversation,
  FdFolder,
  FdGroup,
  FdTicket,
  FdTicketField,
} from './freshdesk.types.ts';

/** `updated_since` for "from the beginning": the ticket list returns only the last 30 days without one. */
export const EPOCH = '1970-01-01T00:00:00Z';
/** The ticket list serves at most 300 pages (30,000 tickets) per query. */
export const LIST_PAGE_CEILING = 300;

export const STREAMS: StreamDescriptor[] = [
  { entity: 'group', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'agent', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'organization', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: false },
  { entity: 'contact', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: false },
  { entity: 'ticketField', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'ticket', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true, windows: true },
  { entity: 'kbCategory', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'kbSection', primaryKey: 'sourceId', cursorField: null, sorted: false },
  { entity: 'kbArticle', primaryKey: 'sourceId', cursorField: null, sorted: false },
];

/** Ticket cursor: the last `updated_at` handed out and the IDs handed out at exactly that instant. */
interface TicketCursor {
  t: string;
  ids: number[];
  /** The last `updated_at` of a deleted ticket handed out as a deletion, and the IDs at that instant (absent: none yet). */
  d?: string;
  dids?: number[];
}

/** Cursor of the unsorted `updated_since` lists (contacts, companies): one pass at a time. */
interface PassCursor {
  /** `updated_since` of the pass under way. */
  since: string;
  /** Next page of that pass; 1 once a pass is complete. */
  page: number;
  /** Newest `updated_at` seen in the pass so far. */
  max: string;
}

const isoOf = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const maxIso = (a: string, b: string) => (a >= b ? a : b);

export class FreshdeskReader {
  constructor(
    private readonly client: FreshdeskClient,
    private readonly account: FreshdeskAccount,
  ) {}

  read<E extends EntityName>(entity: E, state: StreamState | null, options: ReadOptions = {}): AsyncIterable<Page<E>> {
    const overlap = overlapOf(options);
    switch (entity) {
      case 'ticket':
        return this.tickets(state, overlap, options.signal, options.window, options.only) as AsyncIterable<Page<E>>;
      case 'contact':
        return this.pass<FdContact, 'contact'>('contact', '/api/v2/contacts', state, overlap, options.signal, (c) => ({
          record: contactFromFd(c),
          stamp: c.unique_external_id ?? null,
        })) as AsyncIterable<Page<E>>;
      case 'organization':
        return this.pass<FdCompany, 'organization'>('organization', '/api/v2/companies', state, overlap, options.signal, (c) => ({
          record: companyFromFd(c),
          stamp: null,
        })) as AsyncIterable<Page<E>>;
      default:
        return this.whole(entity, options.signal);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tickets

  /**
   * Tickets in `updated_at` order (see ticketListPages); IDs already handed out at the window's instant
   * are skipped. A resumed read (a delta, a resumed full run) then lists the tickets deleted since
   * (`filter=deleted`; deleted tickets leave the plain list) and hands each out as a deletion.
   */
  private async *tickets(state: StreamState | null, overlap: number, signal?: AbortSignal, window?: ReadWindow, only?: ReadOptions['only']): AsyncGenerator<Page<'ticket'>> {
    const fromMs = window?.from ? Date.parse(window.from) : null;
    const untilMs = window?.until ? Date.parse(window.until) : null;
    const saved = readCursor<TicketCursor>(state, 'freshdesk');
    const { since, mark } = resumeAt(saved && { at: saved.t, ids: saved.ids }, overlap);
    const deletions = resumeAt(saved?.d ? { at: saved.d, ids: saved.dids ?? [] } : null, overlap);
    const cursorOf = (): TicketCursor | null => {
      const t = mark.at ?? deletions.mark.at;
      if (!t) return null;
      const cursor: TicketCursor = { t, ids: mark.at ? mark.idsAt() : [] };
      if (deletions.mark.at) Object.assign(cursor, { d: deletions.mark.at, dids: deletions.mark.idsAt() });
      return cursor;
    };
    let yielded = false;
    let lastState: StreamState = state ?? { cursor: null, coveredUntil: null };
    const index = await this.account.fieldIndex(true);
    // A second early: whether `updated_since` takes its own instant in is not something to rest a window on.
    const listFrom = since ?? (fromMs === null ? null : Math.max(0, fromMs - 1000));
    for await (const { items, hasNext } of ticketListPages(this.client, listFrom === null ? EPOCH : isoOf(listFrom), signal)) {
      // A window hands out what lies in it; View a Ticket and the conversations are asked for nothing else.
      const passed = untilMs !== null && items.some((t) => Date.parse(t.updated_at) >= untilMs);
      const fresh = items.filter(
        (t) => !mark.seen(t.updated_at, t.id) && (fromMs === null || Date.parse(t.updated_at) >= fromMs) && (untilMs === null || Date.parse(t.updated_at) < untilMs),
      );
      // What the read does not want costs its place on the list page, nothing more.
      const wanted = only ? fresh.filter((t) => only(listedTicketFromFd(t))) : fresh;
      const records = await Promise.all(wanted.map((t) => this.ticketEnvelope(t.id, index)));
      for (const t of fresh) mark.add(t.updated_at, t.id);
      if (fresh.length > 0 || !yielded || !hasNext) {
        const cursor = cursorOf();
        const lastT = mark.at;
        lastState = { cursor: cursor && writeCursor(cursor), coveredUntil: lastT ? ts(lastT) : (state?.coveredUntil ?? null) };
        yield { records: records.filter((r): r is Envelope<'ticket'> => r !== null), state: lastState };
        yielded = true;
      }
      if (passed) break;
    }
    // Deletions come with a resumed read only, and not within a bounded window: its end is not the stream's.
    if (since === null || untilMs !== null) return;
    // Deletions since the last deletion handed out, else since where the plain list resumed.
    const deletedSince = deletions.since ?? since;
    for await (const page of this.client.pages<FdTicket>('/api/v2/tickets', { filter: 'deleted', updated_since: isoOf(deletedSince), order_by: 'updated_at', order_type: 'asc' }, signal)) {
      const fresh = page.items.filter((t) => t.deleted !== false && !deletions.mark.seen(t.updated_at, t.id));
      for (const t of fresh) deletions.mark.add(t.updated_at, t.id);
      if (fresh.length === 0) continue;
      const cursor = cursorOf();
      lastState = { cursor: cursor && writeCursor(cursor), coveredUntil: lastState.coveredUntil };
      yield {
        records: fresh.map((t) => ({ entity: 'ticket', op: 'delete', sourceId: String(t.id), updatedAt: ts(t.updated_at), record: null }) as Envelope<'ticket'>),
        state: lastState,
      };
    }
  }

  /** One ticket with its whole conversation, or a deletion when it vanished since it was listed. */
  private async ticketEnvelope(id: number, index: FieldIndex): Promise<Envelope<'ticket'> | null> {
    const ticket = await this.client.find<FdTicket>(`/api/v2/tickets/${id}`);
    // A deleted ticket still answers View a Ticket (with `deleted: true`) until it is purged from the trash.
    if (!ticket || ticket.deleted) return null;
    const conversations = await this.conversations(id);
    const record = ticketFromFd(ticket, conversations, index);
    return { entity: 'ticket', op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record, stamp: ticketStamp(ticket) };
  }

  async conversations(ticketId: number): Promise<FdConversation[]> {
    return this.client.all<FdConversation>(`/api/v2/tickets/${ticketId}/conversations`);
  }

  async ticket(id: string): Promise<EntityTypes['ticket'] | null> {
    const envelope = await this.ticketEnvelope(Number(id), await this.account.fieldIndex());
    return envelope?.op === 'upsert' ? envelope.record : null;
  }

  // -------------------------------------------------------------------------------------------
  // Unsorted incremental lists

  /**
   * Contacts and companies can be filtered by `updated_since` but not sorted, so the stream reads in
   * passes: a pass pages through everything updated since the previous pass's newest record (less the
   * overlap), and its cursor becomes that pass's newest `updated_at` once it is complete.
   */
  private async *pass<T extends { updated_at: string }, E extends 'contact' | 'organization'>(
    entity: E,
    path: string,
    state: StreamState | null,
    overlap: number,
    signal: AbortSignal | undefined,
    convert: (item: T) => { record: EntityTypes[E]; stamp: string | null },
  ): AsyncGenerator<Page<E>> {
    const saved = readCursor<PassCursor>(state, 'freshdesk');
    const since = saved ? (saved.page > 1 ? saved.since : isoOf(sinceWithOverlap(saved.since, overlap))) : EPOCH;
    const startPage = saved && saved.page > 1 ? saved.page : 1;
    let max = saved?.max ?? EPOCH;
    let yielded = false;
    for await (const page of this.client.pages<T>(path, { updated_since: since, page: startPage }, signal)) {
      const records: Envelope<E>[] = page.items.map((item) => {
        const { record, stamp } = convert(item);
        max = maxIso(max, item.updated_at);
        return { entity, op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record, stamp } as Envelope<E>;
      });
      const cursor: PassCursor = page.hasNext ? { since, page: page.page + 1, max } : { since: max, page: 1, max };
      yield { records, state: { cursor: writeCursor(cursor), coveredUntil: ts(page.hasNext ? (saved?.since ?? EPOCH) : max) } };
      yielded = true;
    }
    if (!yielded) yield { records: [], state: { cursor: writeCursor({ since: max, page: 1, max }), coveredUntil: ts(max) } };
  }

  // -------------------------------------------------------------------------------------------
  // Streams read whole

  private async *whole<E extends EntityName>(entity: E, signal?: AbortSignal): AsyncGenerator<Page<E>> {
    let newest: string | null = null;
    const page = (records: EntityTypes[E][], stamps?: (string | null)[]): Page<E> => {
      for (const r of records) newest = newest === null || r.updatedAt > newest ? r.updatedAt : newest;
      return {
        records: records.map((record, i) => ({ entity, op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record, stamp: stamps?.[i] ?? null }) as Envelope<E>),
        state: { cursor: null, coveredUntil: newest },
      };
    };
    switch (entity) {
      case 'group':
        for await (const p of this.client.pages<FdGroup>('/api/v2/groups', {}, signal)) yield page(p.items.map(groupFromFd) as EntityTypes[E][]);
        return;
      case 'agent': {
        const roles = await this.account.roleMap();
        for await (const p of this.client.pages<FdAgent>('/api/v2/agents', {}, signal)) yield page(p.items.map((a) => agentFromFd(a, roles)) as EntityTypes[E][]);
        return;
      }
      case 'ticketField': {
        const fields = await this.account.ticketFields(true);
        yield page(fields.flatMap((f) => ticketFieldFromFd(f) ?? []) as EntityTypes[E][]);
        return;
      }
      case 'kbCategory': {
        const locale = localeFromFd((await this.account.helpdeskSettings()).primary_language);
        const categories = listOf<FdCategory>(await this.client.get<unknown>('/api/v2/solutions/categories'), null, { platform: 'freshdesk', path: '/api/v2/solutions/categories' });
        yield page(categories.map((c, i) => categoryFromFd(c, locale, i)) as EntityTypes[E][]);
        return;
      }
      case 'kbSection': {
        const locale = localeFromFd((await this.account.helpdeskSettings()).primary_language);
        const categories = listOf<FdCategory>(await this.client.get<unknown>('/api/v2/solutions/categories'), null, { platform: 'freshdesk', path: '/api/v2/solutions/categories' });
        for (const category of categories) {
          const folders = listOf<FdFolder>(await this.client.get<unknown>(`/api/v2/solutions/categories/${category.id}/folders`), null, { platform: 'freshdesk', path: `/api/v2/solutions/categories/${category.id}/folders` });
          yield page(folders.map((f, i) => folderFromFd(f, category.id, locale, i)) as EntityTypes[E][]);
        }
        if (categories.length === 0) yield page([]);
        return;
      }
      case 'kbArticle': {
        const settings = await this.account.helpdeskSettings();
        const locale = localeFromFd(settings.primary_language);
        const others = settings.supported_languages.filter((l) => l !== settings.primary_language);
        const categories = listOf<FdCategory>(await this.client.get<unknown>('/api/v2/solutions/categories'), null, { platform: 'freshdesk', path: '/api/v2/solutions/categories' });
        let any = false;
        for (const category of categories) {
          const folders = listOf<FdFolder>(await this.client.get<unknown>(`/api/v2/solutions/categories/${category.id}/folders`), null, { platform: 'freshdesk', path: `/api/v2/solutions/categories/${category.id}/folders` });
          for (const folder of folders) {
            const articles = await this.client.all<FdArticle>(`/api/v2/solutions/folders/${folder.id}/articles`);
            const translated = new Map<number, { language: string; article: FdArticle }[]>();
            for (const language of others) {
              const path = `/api/v2/solutions/folders/${folder.id}/articles/${language}`;
              const found = await this.client.find<unknown>(path);
              const list = found === null ? [] : listOf<FdArticle>(found, null, { platform: 'freshdesk', path });
              for (const t of list) translated.set(t.id, [...(translated.get(t.id) ?? []), { language, article: t }]);
            }
            yield page(articles.map((a, i) => articleFromFd(a, locale, i, translated.get(a.id) ?? [])) as EntityTypes[E][]);
            any = true;
          }
        }
        if (!any) yield page([]);
        return;
      }
      default:
        throw new HdmError('INTERNAL', `freshdesk: no stream for ${entity}`);
    }
  }

  /**
   * Tickets only. An account numbers its tickets from 1 as they are created (API v2 reference, Tickets:
   * `id`), deleted and spam ones included; List All Tickets sorts by `created_at` or `updated_at`, not by
   * ID, and a ticket created with a back-dated `created_at` (an import) sorts among old ones. So the highest
   * is the largest of: the IDs on the first page of each order, newest first (`updated_since` at the epoch:
   * without it the list covers the last 30 days only), and the number of tickets the filter API counts
   * (IDs run from 1 without reuse, so the highest is at least that). Three requests.
   */
  async idRange(entity: EntityName): Promise<IdRange | null> {
    if (entity !== 'ticket') return null;
    const counted = await this.client.get<{ total: number }>('/api/v2/search/tickets', { query: `"created_at:>'1970-01-01'"` });
    let highest = counted.total;
    for (const order_by of ['created_at', 'updated_at']) {
      const page = await this.client.get<FdTicket[]>('/api/v2/tickets', { updated_since: EPOCH, order_by, order_type: 'desc', per_page: 100 });
      for (const t of page) highest = Math.max(highest, t.id);
    }
    return highest > 0 ? { lowest: 1, highest } : null;
  }

  // -------------------------------------------------------------------------------------------
  // Single records

  async get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    const one = async <T>(path: string) => this.client.find<T>(path);
    switch (entity) {
      case 'ticket':
        return (await this.ticket(id)) as EntityTypes[E] | null;
      case 'contact': {
        const c = await one<FdContact>(`/api/v2/contacts/${id}`);
        return (c ? contactFromFd(c) : null) as EntityTypes[E] | null;
      }
      case 'organization': {
        const c = await one<FdCompany>(`/api/v2/companies/${id}`);
        return (c ? companyFromFd(c) : null) as EntityTypes[E] | null;
      }
      case 'group': {
        const g = await one<FdGroup>(`/api/v2/groups/${id}`);
        return (g ? groupFromFd(g) : null) as EntityTypes[E] | null;
      }
      case 'agent': {
        const a = await one<FdAgent>(`/api/v2/agents/${id}`);
        return (a ? agentFromFd(a, await this.account.roleMap()) : null) as EntityTypes[E] | null;
      }
      case 'ticketField': {
        const f = await one<FdTicketField>(`/api/v2/admin/ticket_fields/${id}`);
        return (f ? ticketFieldFromFd(f) : null) as EntityTypes[E] | null;
      }
      case 'kbCategory': {
        const c = await one<FdCategory>(`/api/v2/solutions/categories/${id}`);
        const locale = localeFromFd((await this.account.helpdeskSettings()).primary_language);
        return (c ? categoryFromFd(c, locale, 0) : null) as EntityTypes[E] | null;
      }
      case 'kbSection': {
        const f = await one<FdFolder & { hierarchy?: { level: number; type: string; data: { id: number } }[] }>(`/api/v2/solutions/folders/${id}`);
        if (!f) return null;
        const categoryId = f.category_id ?? f.hierarchy?.find((h) => h.type === 'category')?.data.id ?? 0;
        const locale = localeFromFd((await this.account.helpdeskSettings()).primary_language);
        return folderFromFd(f, categoryId, locale, 0) as EntityTypes[E];
      }
      case 'kbArticle':
        return (await this.article(id)) as EntityTypes[E] | null;
      default:
        return null;
    }
  }

  async article(id: string): Promise<KbArticle | null> {
    const a = await this.client.find<FdArticle>(`/api/v2/solutions/articles/${id}`);
    if (!a) return null;
    const settings = await this.account.helpdeskSettings();
    const translations: { language: string; article: FdArticle }[] = [];
    for (const language of settings.supported_languages.filter((l) => l !== settings.primary_language)) {
      const t = await this.client.find<FdArticle>(`/api/v2/solutions/articles/${id}/${language}`);
      if (t) translations.push({ language, article: t });
    }
    return articleFromFd(a, localeFromFd(settings.primary_language), 0, translations);
  }
}

/**
 * The raw ticket list in `updated_at` order from `since`, page by page. Every page is asked for as
 * page 1 of a window starting at the last `updated_at` handed out, so a ticket updated mid-read cannot
 * shift an unread one off the page it was on, and the 300-page ceiling of the list endpoint only
 * matters for runs of more than 30,000 tickets sharing one `updated_at`. A page may repeat tickets of
 * the page before it (those at the window's instant): callers skip what they have seen.
 */
export async function* ticketListPages(client: FreshdeskClient, since: string, signal?: AbortSignal): AsyncGenerator<{ items: FdTicket[]; hasNext: boolean }> {
  let page = 1;
  for (;;) {
    if (signal?.aborted) throw new HdmError('INTERRUPTED', 'freshdesk ticket read stopped on request', { retryable: false, context: { platform: 'freshdesk', entity: 'ticket' } });
    const res = await client.send<FdTicket[]>({
      path: '/api/v2/tickets',
      query: { updated_since: since, order_by: 'updated_at', order_type: 'asc', per_page: 100, page },
    });
    const items = listOf<FdTicket>(res.body, null, { platform: 'freshdesk', path: '/api/v2/tickets' });
    const hasNext = /rel="?next/i.test(res.headers.link ?? '');
    yield { items, hasNext };
    if (!hasNext || items.length === 0) return;
    const last = items[items.length - 1].updated_at;
    if (last !== since) {
      since = last;
      page = 1;
    } else {
      // A run of tickets sharing one instant fills the page: follow it page by page.
      page += 1;
      if (page > LIST_PAGE_CEILING) {
        throw new HdmError('REJECTED', `freshdesk: more than ${LIST_PAGE_CEILING * 100} tickets share updated_at ${since}; the ticket list stops at page ${LIST_PAGE_CEILING}, so the rest cannot be listed`, {
          context: { platform: 'freshdesk', entity: 'ticket', field: 'updated_at' },
        });
      }
    }
  }
}
