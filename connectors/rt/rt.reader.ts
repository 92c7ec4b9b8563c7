import type { IdRange, Page, ReadOptions, SourceStatus, StreamDescriptor, StreamState } from '../sdk/contract.ts';
import { InstantMark, overlapOf, readCursor, resumeAt, writeCursor } from '../sdk/cursor.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf, StallGuard } from '../sdk/response.ts';
import type { Agent, AttachmentMeta, Comment, Contact, EntityName, EntityTypes, Envelope, Group, Ticket, TicketField } from '../../schemas/canonical.ts';
import { RtClient, RT_PAGE_SIZE, type RtCollection, type RtRef } from './rt.client.ts';
import { RtArticles } from './rt.articles.ts';
import {
  plainToHtml,
  priorityFromRt,
  isDuplicateField,
  RT_INTERNAL_FIELDS,
  RT_SOURCE_ID_FIELD,
  RT_TAGS_FIELD,
  RT_TYPE_FIELD,
  RT_DEFAULT_STATUSES,
  rtTime,
  sqlString,
  sqlTime,
  statusFromRt,
  ticketFieldFromRt,
  typeFromRt,
  valueFromRt,
  type RtCustomField,
} from './rt.mapping.ts';

/** Users RT keeps for itself; never read as people. */
const SYSTEM_USERS = new Set(['RT_System', 'Nobody']);

export interface RtUser {
  id: number;
  Name: string;
  EmailAddress?: string;
  RealName?: string;
  Privileged?: number | string;
  Disabled?: number | string;
  WorkPhone?: string;
  MobilePhone?: string;
  HomePhone?: string;
  Timezone?: string;
  Created?: string;
  LastUpdated?: string;
}

interface RtTicketItem {
  id: string;
  Subject: string;
  Status: string;
  Priority: string;
  Queue: RtRef;
  Owner: RtRef;
  Requestor: RtRef[];
  Created: string;
  LastUpdated: string;
}

interface RtTicket extends RtTicketItem {
  CustomFields: { id: string; name: string; values: string[] }[];
}

interface RtTxn {
  id: string;
  Type: string;
  Created: string;
  Creator: RtRef;
}

interface RtAttachment {
  id: string;
  TransactionId: string | RtRef;
  ContentType: string;
  Filename: string;
  ContentLength: string;
  Headers: string;
}

type Segment = { kind: 'text'; part: RtAttachment } | { kind: 'forward'; html: string };

const isHtml = (a: RtAttachment) => /^text\/html/i.test(a.ContentType);
const isForward = (a: RtAttachment) => /^message\/rfc822/i.test(a.ContentType);
const isBody = (a: RtAttachment) => !a.Filename && /^text\/(html|plain)/i.test(a.ContentType) && !/^Content-Disposition:\s*attachment/im.test(a.Headers ?? '');

/** A file name for a part its sender left unnamed (a bare image, a signature): its ID and subtype. */
function unnamedPartName(a: RtAttachment): string {
  const subtype = a.ContentType.split(';')[0].split('/')[1]?.trim().toLowerCase() ?? '';
  const ext = /^[a-z0-9]{1,8}$/.test(subtype) ? subtype : 'bin';
  return `part-${a.id}.${ext}`;
}

/** The header block a mail client shows above a forwarded message, from the message's own headers. */
function forwardedHeader(headers: string): string {
  const wanted = ['From', 'Date', 'Subject', 'To', 'Cc'];
  const lines = ['---------- Forwarded message ----------'];
  for (const name of wanted) {
    const m = headers.match(new RegExp(`^${name}:[ \\t]*(.*(?:\\n[ \\t].*)*)`, 'im'));
    if (m) lines.push(`${name}: ${m[1].replace(/\s*\n\s*/g, ' ').trim()}`);
  }
  return plainToHtml(lines.join('\n'));
}

/** Where a keyset read over LastUpdated stands: the instant reached and the IDs already read at it. */
interface Keyset {
  at: string;
  seen: string[];
}

const EPOCH_SQL = '1970-01-01 00:00:00';

/** Caches shared by the reader and the writer of one connector. */
export class RtDirectory {
  private readonly usersByName = new Map<string, Promise<RtUser | null>>();
  private fields: Promise<Map<string, RtCustomField>> | null = null;

  constructor(private readonly client: RtClient) {}

  user(nameOrId: string | number): Promise<RtUser | null> {
    const key = String(nameOrId);
    let found = this.usersByName.get(key);
    if (!found) {
      found = this.client
        .get<RtUser>(`user/${encodeURIComponent(key)}`, undefined, [404])
        .then((res) => (res.status === 404 ? null : res.body));
      found.catch(() => this.usersByName.delete(key));
      this.usersByName.set(key, found);
    }
    return found;
  }

  forgetUser(nameOrId: string | number): void {
    this.usersByName.delete(String(nameOrId));
  }

  /** Ticket custom fields by ID (enabled and disabled), with their values for select types. */
  ticketFields(refresh = false): Promise<Map<string, RtCustomField>> {
    if (!this.fields || refresh) {
      this.fields = (async () => {
        const refs = await this.client.all<{ id: string }>('customfields', { find_disabled_rows: 1 }, [{ field: 'LookupType', value: 'RT::Queue-RT::Ticket' }]);
        const full = await Promise.all(refs.map((r) => this.client.get<RtCustomField>(`customfield/${r.id}`).then((res) => res.body)));
        return new Map(full.map((cf) => [String(cf.id), cf]));
      })();
      this.fields.catch(() => (this.fields = null));
    }
    return this.fields;
  }

  /** Re-reads one field into the cache (after the writer created or changed it). */
  async refreshField(id: string): Promise<void> {
    const [fields, res] = await Promise.all([this.ticketFields(), this.client.get<RtCustomField>(`customfield/${id}`)]);
    fields.set(String(res.body.id), res.body);
  }

  async fieldByName(name: string): Promise<RtCustomField | null> {
    // The lowest ID: where writers racing each other created a field twice, every one of them picks the same.
    let found: RtCustomField | null = null;
    for (const cf of (await this.ticketFields()).values()) {
      if (cf.Name === name && String(cf.Disabled ?? '0') === '0' && (!found || Number(cf.id) < Number(found.id))) found = cf;
    }
    return found;
  }
}

export class RtReader {
  private readonly articles: RtArticles;
  /** Per queue and status: whether the queue's lifecycle counts the status inactive. */
  private readonly inactive = new Map<string, Promise<boolean>>();

  constructor(
    private readonly client: RtClient,
    private readonly directory: RtDirectory,
  ) {
    this.articles = new RtArticles(client, (ref) => this.userId(ref));
  }

  streams(): StreamDescriptor[] {
    return [
      { entity: 'group', primaryKey: 'sourceId', cursorField: null, sorted: false },
      // REST2's JSON search silently ignores LastUpdated on users: they are re-read whole.
      { entity: 'agent', primaryKey: 'sourceId', cursorField: null, sorted: false },
      { entity: 'contact', primaryKey: 'sourceId', cursorField: null, sorted: false },
      { entity: 'ticketField', primaryKey: 'sourceId', cursorField: null, sorted: false },
      { entity: 'ticket', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true, windows: true },
      // Classes and articles are few next to tickets, and REST2 cannot filter articles by LastUpdated reliably: re-read whole.
      { entity: 'kbCategory', primaryKey: 'sourceId', cursorField: null, sorted: false },
      { entity: 'kbSection', primaryKey: 'sourceId', cursorField: null, sorted: false },
      { entity: 'kbArticle', primaryKey: 'sourceId', cursorField: null, sorted: false },
    ];
  }

  async *read<E extends EntityName>(entity: E, state: StreamState | null, options: ReadOptions = {}): AsyncIterable<Page<E>> {
    switch (entity) {
      case 'group':
        yield* this.readWhole(entity, async () => (await this.queues()).map((g) => this.envelope('group', g)));
        return;
      case 'ticketField':
        yield* this.readWhole(entity, async () => (await this.ticketFieldsCanonical(true)).map((f) => this.envelope('ticketField', f)));
        return;
      case 'agent':
      case 'contact':
        yield* this.readUsers(entity, state, options) as AsyncIterable<Page<E>>;
        return;
      case 'ticket':
        yield* this.readTickets(state, options) as AsyncIterable<Page<E>>;
        return;
      case 'kbCategory':
        yield* this.readWhole(entity, async () => (await this.articles.classes()).map((c) => this.envelope('kbCategory', this.articles.category(c))));
        return;
      case 'kbSection':
        yield* this.readWhole(entity, async () => (await this.articles.classes()).map((c) => this.envelope('kbSection', this.articles.section(c))));
        return;
      case 'kbArticle': {
        const startedAt = new Date().toISOString();
        for await (const articles of this.articles.articlePages()) {
          options.signal?.throwIfAborted();
          yield { records: articles.map((a) => this.envelope('kbArticle', a)) as Envelope<E>[], state: { cursor: null, coveredUntil: startedAt } };
        }
        return;
      }
      default:
        // RT has no organizations.
        return;
    }
  }

  private async *readWhole<E extends EntityName>(entity: E, load: () => Promise<Envelope[]>): AsyncIterable<Page<E>> {
    const startedAt = new Date().toISOString();
    const records = (await load()) as Envelope<E>[];
    yield { records, state: { cursor: null, coveredUntil: startedAt } };
  }

  private envelope<E extends EntityName>(entity: E, record: EntityTypes[E], stamp?: string | null): Envelope<E> {
    return { entity, op: 'upsert', sourceId: record.sourceId, updatedAt: (record as { updatedAt: string }).updatedAt, record, ...(stamp !== undefined ? { stamp } : {}) } as Envelope<E>;
  }

  async queues(): Promise<Group[]> {
    const items = await this.client.all<{ id: string; Name: string; Description: string; Created: string; LastUpdated: string; Disabled: string }>(
      'queues/all',
      { fields: 'Name,Description,Created,LastUpdated,Disabled', find_disabled_rows: 1 },
    );
    // Disabled=2 marks RT's internal approvals queue.
    return items.filter((q) => q.Disabled !== '2' && !q.Name.startsWith('___')).map((q) => this.group(q));
  }

  group(q: { id: string | number; Name: string; Description?: string; Created?: string; LastUpdated?: string }): Group {
    return {
      sourceId: String(q.id),
      name: q.Name,
      description: q.Description ? q.Description : null,
      createdAt: rtTime(q.Created),
      updatedAt: rtTime(q.LastUpdated ?? q.Created),
    };
  }

  async ticketFieldsCanonical(refresh = false): Promise<TicketField[]> {
    const fields = await this.directory.ticketFields(refresh);
    return [...fields.values()].filter((cf) => !RT_INTERNAL_FIELDS.has(cf.Name) && !isDuplicateField(cf)).flatMap((cf) => ticketFieldFromRt(cf) ?? []);
  }

  userRecord(u: RtUser): { entity: 'agent'; record: Agent } | { entity: 'contact'; record: Contact } {
    const email = u.EmailAddress ? u.EmailAddress : null;
    const name = u.RealName || u.Name;
    const createdAt = rtTime(u.Created);
    const updatedAt = rtTime(u.LastUpdated ?? u.Created);
    if (Number(u.Privileged) === 1) {
      return {
        entity: 'agent',
        record: {
          sourceId: String(u.id),
          name,
          email: email ?? '',
          role: u.Name === 'root' ? 'admin' : 'agent',
          active: Number(u.Disabled ?? 0) === 0,
          deleted: false,
          groupIds: [],
          timeZone: u.Timezone ? u.Timezone : null,
          createdAt,
          updatedAt,
        },
      };
    }
    return {
      entity: 'contact',
      record: {
        sourceId: String(u.id),
        name,
        email,
        phone: u.WorkPhone || u.MobilePhone || u.HomePhone || null,
        organizationId: null,
        tags: [],
        timeZone: u.Timezone ? u.Timezone : null,
        customFields: {},
        createdAt,
        updatedAt,
      },
    };
  }

  /** Every user, page by page (REST2 cannot filter users by LastUpdated: it drops that condition). */
  private async *readUsers(entity: 'agent' | 'contact', _state: StreamState | null, options: ReadOptions): AsyncIterable<Page<'agent' | 'contact'>> {
    const startedAt = new Date().toISOString();
    for await (const items of this.client.pages<{ Name: string }>('users', { fields: 'Name', find_disabled_rows: 1, orderby: 'id' }, [])) {
      options.signal?.throwIfAborted();
      const users = await Promise.all(
        items
          .filter((u) => !SYSTEM_USERS.has(u.Name))
          .map((u) => {
            this.directory.forgetUser(u.Name);
            return this.directory.user(u.Name);
          }),
      );
      const records: Envelope<'agent' | 'contact'>[] = [];
      for (const u of users) {
        if (!u) continue;
        const mapped = this.userRecord(u);
        if (mapped.entity === entity) records.push(this.envelope(entity, mapped.record as EntityTypes[typeof entity]));
      }
      yield { records, state: { cursor: null, coveredUntil: startedAt } };
    }
  }

  private startKeyset(state: StreamState | null, options: ReadOptions): Keyset {
    // The cursor holds the instant reached and the ticket IDs read at it; a bare ISO instant is a cursor
    // saved before RT cursors were versioned JSON, resumed by re-reading its whole second.
    const saved = readCursor<{ at: string; ids?: string[] }>(state, 'rt', (text) => {
      if (Number.isNaN(Date.parse(text))) throw new HdmError('CONFIG_INVALID', `rt: saved stream cursor is not one this connector wrote: ${text.slice(0, 80)}`, { retryable: false, context: { platform: 'rt', field: 'cursor' } });
      return { at: text };
    });
    if (!saved) return { at: EPOCH_SQL, seen: [] };
    const { since, mark } = resumeAt({ at: saved.at, ids: saved.ids ?? [] }, overlapOf(options));
    return { at: sqlTime(new Date(since ?? 0).toISOString()), seen: mark.idsAt() };
  }

  private keysetState(keyset: Keyset): StreamState {
    const iso = new Date(`${keyset.at.replace(' ', 'T')}Z`).toISOString();
    return { cursor: writeCursor({ at: iso, ids: keyset.seen }), coveredUntil: iso };
  }

  /**
   * Pages of a LastUpdated-ordered search. `fetch(at, page)` returns items with `LastUpdated` and a
   * stable `key`. Yields only items not read before, with the keyset after them.
   */
  private async *keysetPages<T extends { LastUpdated: string; key: string }>(
    start: Keyset,
    fetch: (at: string, page: number) => Promise<T[]>,
  ): AsyncIterable<{ items: T[]; keyset: Keyset }> {
    const mark = new InstantMark<string, string>(start.at, start.seen);
    let page = 1;
    const timeOf = (item: T) => sqlTime(rtTime(item.LastUpdated));
    const guard = new StallGuard({ platform: 'rt', path: '/REST/2.0/tickets' });
    for (;;) {
      const at = mark.at ?? EPOCH_SQL;
      const raw = await fetch(at, page);
      if (raw.length === 0) return;
      const fresh = raw.filter((item) => !mark.seen(timeOf(item), item.key));
      // Pages of records already read, over and over, mean the search no longer moves.
      guard.page(fresh.length > 0, `${at} page ${page}`);
      for (const item of raw) mark.add(timeOf(item), item.key);
      // A whole page at one instant: page on at that instant; else query again from the newest instant.
      page = mark.at === at ? page + 1 : 1;
      if (fresh.length > 0) yield { items: fresh, keyset: { at: mark.at ?? at, seen: mark.idsAt() } };
      // A short page with nothing new means we have caught up; after a short page with news, one
      // more query from the new instant picks up what changed while we read.
      if (raw.length < RT_PAGE_SIZE && fresh.length === 0) return;
    }
  }

  private async *readTickets(state: StreamState | null, options: ReadOptions): AsyncIterable<Page<'ticket'>> {
    const fromMs = options.window?.from ? Date.parse(options.window.from) : null;
    const untilMs = options.window?.until ? Date.parse(options.window.until) : null;
    const start = !state && fromMs !== null ? { at: sqlTime(new Date(fromMs).toISOString()), seen: [] } : this.startKeyset(state, options);
    const placeOf = (t: RtTicketItem) => Date.parse(rtTime(t.LastUpdated));
    for await (const { items: listed, keyset } of this.keysetPages<RtTicketItem & { key: string }>(start, async (at, page) => {
      const res = await this.client.get<RtCollection<RtTicketItem>>('tickets', {
        query: `LastUpdated >= '${at} +0000'`,
        fields: 'Subject,Status,Priority,Queue,Owner,Requestor,Created,LastUpdated',
        'fields[Owner]': 'id,Name',
        'fields[Requestor]': 'id,Name',
        'fields[Queue]': 'id',
        orderby: 'LastUpdated',
        order: 'ASC',
        page,
        per_page: RT_PAGE_SIZE,
      });
      return listOf<RtTicketItem>(res.body, 'items', { platform: 'rt', path: '/REST/2.0/tickets' }).map((t) => ({ ...t, key: String(t.id) }));
    })) {
      options.signal?.throwIfAborted();
      // A window hands out what lies in it; the ticket, its history and attachments are asked for nothing else.
      const passed = untilMs !== null && listed.some((t) => placeOf(t) >= untilMs);
      const items = listed.filter((t) => (fromMs === null || placeOf(t) >= fromMs) && (untilMs === null || placeOf(t) < untilMs));
      const tickets = await Promise.all((await this.wanted(items, options)).map((t) => this.ticket(String(t.id))));
      const records: Envelope<'ticket'>[] = [];
      for (const t of tickets) {
        if (!t) continue;
        records.push(t.deleted ? { entity: 'ticket', op: 'delete', sourceId: t.ticket.sourceId, updatedAt: t.ticket.updatedAt, record: null } : this.envelope('ticket', t.ticket, t.stamp));
      }
      yield { records, state: this.keysetState(keyset) };
      if (passed) return;
    }
  }

  /** The listed tickets the read asked for (`ReadOptions.only`), in list order; a deletion always is. */
  private async wanted(items: RtTicketItem[], options: ReadOptions): Promise<RtTicketItem[]> {
    const only = options.only;
    if (!only) return items;
    const statuses = await Promise.all(items.map((t) => this.status(t)));
    return items.filter((t, i) => t.Status === 'deleted' || only({ sourceId: String(t.id), updatedAt: rtTime(t.LastUpdated), status: statuses[i] }));
  }

  /** One ticket aggregate: the ticket, its Create/Correspond/Comment transactions and their attachments. */
  async ticket(id: string): Promise<{ ticket: Ticket; stamp: string | null; deleted: boolean } | null> {
    const res = await this.client.get<RtTicket>(`ticket/${id}`, undefined, [404]);
    if (res.status === 404) return null;
    const t = res.body;
    const [fields, txns, attachments, owner, requesters] = await Promise.all([
      this.directory.ticketFields(),
      this.client.all<RtTxn>(`ticket/${id}/history`, { fields: 'Type,Created,Creator', 'fields[Creator]': 'id' }),
      this.client.all<RtAttachment>(`ticket/${id}/attachments`, { fields: 'TransactionId,ContentType,Filename,ContentLength,Headers' }),
      this.userId(t.Owner),
      Promise.all((t.Requestor ?? []).filter((r) => r.type === 'user').map((r) => this.userId(r))),
    ]);
    let cfs: Map<string, RtCustomField> = fields;
    if ((t.CustomFields ?? []).some((v) => !fields.has(String(v.id)))) cfs = await this.directory.ticketFields(true);

    const customFields: Ticket['customFields'] = {};
    let tags: string[] = [];
    let type: Ticket['type'] = null;
    let stamp: string | null = null;
    for (const v of t.CustomFields ?? []) {
      const cf = cfs.get(String(v.id));
      if (!cf) continue;
      const values = v.values ?? [];
      if (cf.Name === RT_SOURCE_ID_FIELD) stamp = values[0] ?? null;
      else if (cf.Name === RT_TAGS_FIELD) tags = [...values].sort();
      else if (cf.Name === RT_TYPE_FIELD) type = typeFromRt(values);
      else {
        const def = ticketFieldFromRt(cf);
        if (def) customFields[def.key] = valueFromRt(def.type, values);
      }
    }

    const byTxn = new Map<string, RtAttachment[]>();
    for (const a of attachments) {
      const txnId = typeof a.TransactionId === 'object' ? String(a.TransactionId.id) : String(a.TransactionId);
      byTxn.set(txnId, [...(byTxn.get(txnId) ?? []), a]);
    }
    const wanted = txns.filter((x) => x.Type === 'Create' || x.Type === 'Correspond' || x.Type === 'Comment');
    const comments = (await Promise.all(wanted.map((x) => this.comment(x, byTxn.get(String(x.id)) ?? [])))).filter((c): c is Comment => c !== null);

    const status = await this.status(t);
    const custom = !(RT_DEFAULT_STATUSES as readonly string[]).includes(t.Status) && t.Status !== 'deleted';
    const ticket: Ticket = {
      sourceId: String(t.id),
      subject: t.Subject ?? '',
      status,
      sourceStatus: t.Status,
      ...(custom && status === 'closed' ? { closedByInactivity: true } : {}),
      priority: priorityFromRt(t.Priority),
      type,
      requesterId: requesters.find((r) => r !== null) ?? null,
      assigneeId: owner,
      groupId: t.Queue ? String(typeof t.Queue === 'object' ? t.Queue.id : t.Queue) : null,
      organizationId: null,
      tags,
      customFields,
      createdAt: rtTime(t.Created),
      updatedAt: rtTime(t.LastUpdated),
      comments,
    };
    return { ticket, stamp, deleted: t.Status === 'deleted' };
  }

  private async status(t: RtTicketItem): Promise<Ticket['status']> {
    if ((RT_DEFAULT_STATUSES as readonly string[]).includes(t.Status) || t.Status === 'deleted') return statusFromRt(t.Status);
    return statusFromRt(t.Status, await this.isInactive(t.Status, String(t.id), t.Queue));
  }

  /**
   * Whether RT's lifecycle counts a custom status inactive. REST2 does not expose lifecycles, but
   * TicketSQL knows `__Inactive__`: asked once per queue and status, of a ticket that has it.
   */
  private isInactive(status: string, ticketId: string, queue: RtRef | string | undefined): Promise<boolean> {
    const key = `${queue && typeof queue === 'object' ? queue.id : (queue ?? '')}\u0000${status}`;
    let known = this.inactive.get(key);
    if (!known) {
      known = this.client
        .get<RtCollection<RtRef>>('tickets', { query: `id = ${Number(ticketId)} AND Status = '__Inactive__'`, per_page: 1 })
        .then((res) => (res.body.items ?? []).length > 0);
      known.catch(() => this.inactive.delete(key));
      this.inactive.set(key, known);
    }
    return known;
  }

  /**
   * Every status RT's tickets are in, custom lifecycles' included, with the canonical status each
   * reads as: one search per status found (tickets in none of the statuses known so far), plus one
   * to ask whether a custom one is inactive. Statuses no ticket is in do not matter to a migration.
   */
  async sourceStatuses(): Promise<SourceStatus[]> {
    const found: SourceStatus[] = RT_DEFAULT_STATUSES.map((name) => ({ name, status: statusFromRt(name), inactive: name === 'resolved' || name === 'rejected' }));
    const names = new Set<string>([...RT_DEFAULT_STATUSES, 'deleted']);
    for (;;) {
      const query = [...names].map((n) => `Status != ${sqlString(n)}`).join(' AND ');
      const res = await this.client.get<RtCollection<RtTicketItem>>('tickets', { query, fields: 'Status,Queue', 'fields[Queue]': 'id', orderby: 'id', per_page: 1 });
      const t = res.body.items?.[0];
      if (!t || names.has(t.Status)) return found;
      names.add(t.Status);
      const inactive = await this.isInactive(t.Status, String(t.id), t.Queue);
      found.push({ name: t.Status, status: statusFromRt(t.Status, inactive), inactive });
    }
  }

  /** A user reference's numeric ID (null for Nobody). REST2 names users by Name in references. */
  private async userId(ref: RtRef | undefined): Promise<string | null> {
    if (!ref || ref.type !== 'user') return null;
    const name = ref.Name ?? String(ref.id);
    if (SYSTEM_USERS.has(name)) return null;
    if (typeof ref.id === 'number' || /^\d+$/.test(String(ref.id))) return String(ref.id);
    const user = await this.directory.user(name);
    return user ? String(user.id) : null;
  }

  private async comment(txn: RtTxn, parts: RtAttachment[]): Promise<Comment | null> {
    const { segments, files } = await this.messageParts(txn, parts);
    const texts = await Promise.all(
      segments.map(async (s) => {
        if (s.kind === 'forward') return s.html;
        const res = await this.client.get<{ Content?: unknown }>(`attachment/${s.part.id}`);
        // A text part answered without its content is unreadable, not empty: the comment would load blank.
        if (typeof res.body?.Content !== 'string') {
          throw new HdmError('BAD_RESPONSE', `rt /REST/2.0/attachment/${s.part.id} (a text part of transaction ${txn.id}) answered without its Content`, {
            retryable: true,
            context: { platform: 'rt', path: `/REST/2.0/attachment/${s.part.id}`, recordId: String(txn.id) },
          });
        }
        const text = Buffer.from(res.body.Content, 'base64').toString('utf8');
        return isHtml(s.part) ? text : plainToHtml(text);
      }),
    );
    let body = texts.filter(Boolean).join('\n');
    if (txn.Type === 'Create' && !segments.some((s) => s.kind === 'text') && files.length === 0) return null;
    const attachments: AttachmentMeta[] = files.map((a) => {
      const fileName = a.Filename || unnamedPartName(a);
      const contentId = (a.Headers ?? '').match(/^Content-ID:\s*<?([^>\s]+)>?/im)?.[1];
      const refs = [contentId, encodeURIComponent(fileName), fileName].filter((r): r is string => Boolean(r)).map((r) => `cid:${r}`);
      const inline = contentId !== undefined || refs.some((r) => body.includes(r));
      // A cid: reference means nothing outside this message: the canonical body names the attachment.
      for (const ref of refs) body = body.split(`"${ref}"`).join(`"inline:${a.id}"`).split(`'${ref}'`).join(`'inline:${a.id}'`);
      return {
        sourceId: String(a.id),
        fileName,
        contentType: a.ContentType,
        size: Number(a.ContentLength ?? 0),
        url: `${this.client.apiUrl}/attachment/${a.id}`,
        inline,
      };
    });
    const creator = txn.Creator;
    const authorId = creator && typeof creator.id === 'number' ? String(creator.id) : await this.userId(creator);
    return {
      sourceId: String(txn.id),
      authorId,
      body,
      public: txn.Type !== 'Comment',
      createdAt: rtTime(txn.Created),
      attachments,
    };
  }

  /**
   * Every MIME part of a transaction, in message order: text parts (and forwarded messages, as their
   * headers then their own parts) make the body, everything else is a file. Of a multipart/alternative
   * only the richest rendering is kept, as a mail client shows it.
   */
  private async messageParts(txn: RtTxn, parts: RtAttachment[]): Promise<{ segments: Segment[]; files: RtAttachment[] }> {
    const segments: Segment[] = [];
    const files: RtAttachment[] = [];
    const alternatives = parts.filter((a) => /^multipart\/alternative/i.test(a.ContentType));
    const bodies = parts.filter(isBody);
    const needsTree = parts.some(isForward) || alternatives.length > 1 || (alternatives.length === 1 && bodies.length > 2);
    if (!needsTree) {
      // No nesting worth knowing: one alternative holds at most one plain and one HTML rendering.
      const chosen = alternatives.length === 1 ? [bodies.find(isHtml) ?? bodies[0]].filter(Boolean) : bodies;
      for (const a of parts) {
        if (chosen.includes(a)) segments.push({ kind: 'text', part: a });
        else if (!isBody(a) && !/^multipart\//i.test(a.ContentType)) files.push(a);
      }
      return { segments, files };
    }
    // REST2 answers 500 for fields=Parent when a part has none, so only the nested parts are asked for.
    const nested = await this.client.all<{ id: string; Parent: RtRef }>('attachments', { fields: 'Parent', 'fields[Parent]': 'id' }, [
      { field: 'TransactionId', value: Number(txn.id) },
      { field: 'Parent', operator: '>', value: 0 },
    ]);
    const parentOf = new Map(nested.map((n) => [String(n.id), String(n.Parent.id)]));
    const children = new Map<string, RtAttachment[]>();
    for (const a of [...parts].sort((x, y) => Number(x.id) - Number(y.id))) {
      const parent = parentOf.get(String(a.id)) ?? '';
      children.set(parent, [...(children.get(parent) ?? []), a]);
    }
    const walk = (a: RtAttachment): void => {
      const kids = children.get(String(a.id)) ?? [];
      if (isBody(a)) segments.push({ kind: 'text', part: a });
      else if (/^multipart\/alternative/i.test(a.ContentType)) {
        const chosen = kids.find(isHtml) ?? kids.find(isBody) ?? kids[kids.length - 1];
        if (chosen) walk(chosen);
      } else if (/^multipart\//i.test(a.ContentType)) kids.forEach(walk);
      else if (isForward(a)) {
        segments.push({ kind: 'forward', html: forwardedHeader(kids[0]?.Headers ?? '') });
        kids.forEach(walk);
      } else files.push(a);
    };
    (children.get('') ?? []).forEach(walk);
    return { segments, files };
  }

  async get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    switch (entity) {
      case 'ticket': {
        const t = await this.ticket(id);
        return t && !t.deleted ? (t.ticket as EntityTypes[E]) : null;
      }
      case 'agent':
      case 'contact': {
        this.directory.forgetUser(id);
        const u = await this.directory.user(id);
        if (!u || SYSTEM_USERS.has(u.Name)) return null;
        const mapped = this.userRecord(u);
        return mapped.entity === entity ? (mapped.record as EntityTypes[E]) : null;
      }
      case 'group': {
        const res = await this.client.get<{ id: number; Name: string; Description: string; Created: string; LastUpdated: string }>(`queue/${id}`, undefined, [404]);
        return res.status === 404 ? null : (this.group(res.body) as EntityTypes[E]);
      }
      case 'ticketField': {
        const res = await this.client.get<RtCustomField>(`customfield/${id}`, undefined, [404]);
        if (res.status === 404 || res.body.LookupType !== 'RT::Queue-RT::Ticket') return null;
        return ticketFieldFromRt(res.body) as EntityTypes[E] | null;
      }
      case 'kbCategory':
      case 'kbSection': {
        const c = await this.articles.classById(id);
        if (!c) return null;
        return (entity === 'kbCategory' ? this.articles.category(c) : this.articles.section(c)) as EntityTypes[E];
      }
      case 'kbArticle':
        return (await this.articles.articleById(id)) as EntityTypes[E] | null;
      default:
        return null;
    }
  }

  async openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }> {
    const id = RtClient.idOf(attachment.url || `/attachment/${attachment.sourceId}`);
    const res = await this.client.get<{ Content?: string; ContentType?: string }>(`attachment/${id}`);
    if (res.body.Content === undefined) {
      throw new HdmError('ATTACHMENT_FAILED', `rt attachment ${id} has no content`, { context: { platform: 'rt', recordId: attachment.sourceId } });
    }
    return { body: new Uint8Array(Buffer.from(res.body.Content, 'base64')), contentType: res.body.ContentType ?? attachment.contentType };
  }

  /** Tickets only: the first ticket of the search sorted by ID, each way (two requests, side by side). */
  async idRange(entity: EntityName): Promise<IdRange | null> {
    if (entity !== 'ticket') return null;
    const edge = async (order: 'ASC' | 'DESC') => {
      const res = await this.client.get<RtCollection<RtRef>>('tickets', { query: 'id > 0', orderby: 'id', order, per_page: 1 });
      const ref = res.body.items[0];
      return ref ? Number(ref.id) : null;
    };
    const [lowest, highest] = await Promise.all([edge('ASC'), edge('DESC')]);
    return lowest === null || highest === null ? null : { lowest, highest };
  }

  async count(entity: EntityName): Promise<number | null> {
    if (entity !== 'ticket') return null;
    const res = await this.client.get<RtCollection<unknown>>('tickets', { query: 'id > 0', per_page: 1 });
    return res.body.total ?? null;
  }
}
