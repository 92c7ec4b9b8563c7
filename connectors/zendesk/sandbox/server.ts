/**
 * A local server that answers like Zendesk's public API for every endpoint the connector uses:
 * token auth, JSON shapes, offset and cursor pagination, incremental exports (cursor- and time-based),
 * the plan's limit table (zendesk.limits.ts) with 429 + Retry-After, Zendesk's error bodies, uploads, the ticket import
 * API with job statuses, Help Center. Test controls live under `/__sandbox/…` and on the returned object.
 */
import type { IncomingMessage } from 'node:http';
import type { EntityName } from '../../../schemas/canonical.ts';
import type { RunningSandbox, SandboxOptions } from '../../sdk/platform.ts';
import type { ZdArticle, ZdCategory, ZdComment, ZdGroup, ZdSection, ZdTicket, ZdTicketField, ZdTranslation } from '../zendesk.types.ts';
import { tagValue, ZD_UPLOAD_MAX_BYTES } from '../zendesk.mapping.ts';
import { BucketLimiter, type LimitTable, withLimits } from '../../sdk/limits.ts';
import { type FaultSpec, HttpError, type KitHandler, type KitRequest, type KitServer, type Reply, readRaw, Router, startKitServer } from '../../sdk/sandbox-kit/index.ts';
import { type ZendeskPlan, zendeskLimits } from '../zendesk.limits.ts';
import {
  badRequest,
  invalid,
  isoOf,
  type KbItem,
  notFound,
  nowSec,
  sec,
  SandboxError,
  type StoredTicket,
  type StoredUser,
  ZendeskStore,
} from './store.ts';

/** Exports leave out what changed in the minute before the request. */
export const EXPORT_EXCLUSION_SECONDS = 60;

export interface ZendeskSandboxOptions extends SandboxOptions {
  /** Plan whose limits the sandbox enforces. Default `enterprise`. */
  plan?: ZendeskPlan;
  /** Adds the High Volume API add-on to the plan. Default false. */
  highVolume?: boolean;
  /** Incremental export requests per rate window; null serves them unthrottled. Default the plan's, or null when `requestsPerMinute` is null. */
  incrementalExportsPerMinute?: number | null;
  /** Length of a one-minute rate-limit window in seconds; longer windows scale with it (tests shrink it to keep 429 storms short). Default 60. */
  rateWindowSeconds?: number;
  /**
   * Incremental exports leave out records changed within this many seconds before the request: Zendesk
   * excludes "any items that were created or changed within the minute prior to your request" ("Using
   * the Incremental Export API"). Default 60; 0 opts out, for a test that must read a change at once.
   */
  exportLagSeconds?: number;
}

export type { FaultSpec };

export type TouchEntity = 'ticket' | 'organization' | 'user';

/** A running Zendesk sandbox with controls for tests, also reachable over HTTP under `/__sandbox/`. */
export interface ZendeskSandbox extends RunningSandbox {
  readonly store: ZendeskStore;
  /** The limits enforced (after `requestsPerMinute` and `incrementalExportsPerMinute`). */
  readonly limits: LimitTable;
  /** Per limit bucket: requests admitted, refused with 429, credits charged. */
  limitStats(): Record<string, { admitted: number; refused: number; credits: number }>;
  /** Requests served per route, IDs folded (`GET /api/v2/tickets/:id/comments.json`); also `GET /__sandbox/state`. */
  requestsByRoute(): Record<string, number>;
  /** Creates a ticket as an agent would (Zendesk's create-ticket input shape); requester defaults to the first end-user. */
  createTicket(input?: Record<string, unknown>): ZdTicket;
  /** Changes ticket properties (Zendesk's update shape), bumping updated_at. */
  updateTicket(id: number, changes: Record<string, unknown>): ZdTicket;
  /** Appends a comment (`body` or `html_body`, `public`, `author_id`, `uploads`), bumping updated_at. */
  addComment(ticketId: number, comment: Record<string, unknown>): ZdComment;
  /** Soft-deletes a ticket (it stays in the export with status `deleted`). */
  deleteTicket(id: number): void;
  /** Sets updated_at (and the export clock) of the first `count` records by ID, or of the given IDs, to one instant; returns their IDs. */
  touch(entity: TouchEntity, countOrIds: number | number[], updatedAt: string | Date): number[];
  /** Answers the next `count` API requests with the given status. */
  injectFaults(spec: FaultSpec): void;
}

interface Ctx extends KitRequest {
  body: Record<string, unknown>;
  raw: Buffer;
  headers: IncomingMessage['headers'];
  params: string[];
}

type Handler = (ctx: Ctx) => Reply | Promise<Reply>;

/**
 * The limit table a sandbox started with `options` enforces: the plan's, with `requestsPerMinute` in place of
 * the account (and Help Center) limit. `requestsPerMinute: null` lifts every limit but an explicitly given
 * `incrementalExportsPerMinute`.
 */
export function zendeskSandboxLimits(options: Pick<ZendeskSandboxOptions, 'plan' | 'highVolume' | 'requestsPerMinute' | 'incrementalExportsPerMinute'> = {}): LimitTable {
  const table = zendeskLimits(options.plan ?? 'enterprise', { highVolume: options.highVolume });
  const rpm = options.requestsPerMinute;
  if (rpm === null) {
    const exports = options.incrementalExportsPerMinute;
    return withLimits({ ...table, buckets: table.buckets.filter((b) => b.name === 'incremental-exports' && exports != null) }, { 'incremental-exports': exports });
  }
  return withLimits(table, { account: rpm, 'help-center': rpm, 'incremental-exports': options.incrementalExportsPerMinute });
}

const enc = (s: string) => Buffer.from(s).toString('base64url');
const dec = (s: string) => Buffer.from(s, 'base64url').toString();

/**
 * What a 429 says: plain text for the account limit; for the incremental exports the JSON body their
 * clients report from the live API (cloudbees-oss/zendesk-java-client#319, airbytehq/airbyte#11899).
 */
const rateLimitedBody = (path: string): unknown =>
  path.startsWith('/api/v2/incremental/')
    ? { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental export API requests per minute exceeded' }
    : 'Number of allowed API requests per minute exceeded';

export async function startZendeskSandbox(options: ZendeskSandboxOptions = {}): Promise<ZendeskSandbox> {
  const seed = options.seed ?? 1;
  const store = new ZendeskStore({ seed, tickets: options.tickets ?? 0, articles: options.articles ?? 20, maxComments: options.maxComments ?? 30 });
  const apiToken = `sandbox-${seed}-${Buffer.from(`zendesk:${seed}`).toString('hex').slice(0, 24)}`;
  const email = store.owner.email!;
  const expectedAuth = `Basic ${Buffer.from(`${email}/token:${apiToken}`).toString('base64')}`;
  const limits = zendeskSandboxLimits(options);
  const limiter = new BucketLimiter(limits, { windowScale: (options.rateWindowSeconds ?? 60) / 60 });
  const exportLag = options.exportLagSeconds ?? EXPORT_EXCLUSION_SECONDS;
  // Assigned once the server listens; only requests and controls called after that read it.
  let kit: KitServer;

  const routes = new Router<KitHandler<Ctx>>({ id: '\\d+', tok: '[A-Za-z0-9_-]+', loc: '[A-Za-z-]+', rest: '.+' });
  const route = (method: string, pattern: string, handler: Handler) =>
    routes.add(method, pattern, (ctx, match) => {
      ctx.params = match.slice(1);
      return handler(ctx);
    });

  // ---------------------------------------------------------------------------------------------
  // Pagination

  const pageUrl = (ctx: Ctx, changes: Record<string, string | null>) => {
    const next = new URL(ctx.url.toString());
    next.pathname = ctx.url.pathname;
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) next.searchParams.delete(k);
      else next.searchParams.set(k, v);
    }
    return `${store.baseUrl}${next.pathname}${next.search}`;
  };

  /** Zendesk's two list paginations: cursor (`page[size]`, `page[after]`) and offset (`page`, `per_page`, max 100). */
  const list = <T>(ctx: Ctx, key: string, items: T[], render: (item: T) => unknown = (x) => x): Reply => {
    const size = ctx.query.get('page[size]');
    const after = ctx.query.get('page[after]');
    if (size !== null || after !== null) {
      const n = Math.min(100, Math.max(1, Number(size ?? 100) || 100));
      let start = 0;
      if (after) {
        const parsed = Number(dec(after));
        if (!Number.isInteger(parsed) || parsed < 0) throw badRequest('page[after] is invalid', 'InvalidPaginationParameter');
        start = parsed;
      }
      const slice = items.slice(start, start + n);
      const hasMore = start + n < items.length;
      const afterCursor = slice.length > 0 ? enc(String(start + slice.length)) : null;
      const beforeCursor = slice.length > 0 ? enc(String(start)) : null;
      return {
        body: {
          [key]: slice.map(render),
          meta: { has_more: hasMore, after_cursor: afterCursor, before_cursor: beforeCursor },
          links: {
            next: hasMore && afterCursor ? pageUrl(ctx, { 'page[after]': afterCursor, 'page[before]': null }) : null,
            prev: start > 0 && beforeCursor ? pageUrl(ctx, { 'page[before]': beforeCursor, 'page[after]': null }) : null,
          },
        },
      };
    }
    const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page') ?? 100) || 100));
    const page = Math.max(1, Number(ctx.query.get('page') ?? 1) || 1);
    if (page > 100 && !ctx.path.startsWith('/api/v2/help_center/')) {
      throw badRequest('Offset pagination is limited to the first 100 pages. Use cursor pagination instead.', 'InvalidPaginationParameter');
    }
    const slice = items.slice((page - 1) * perPage, page * perPage);
    return {
      body: {
        [key]: slice.map(render),
        next_page: page * perPage < items.length ? pageUrl(ctx, { page: String(page + 1), per_page: String(perPage) }) : null,
        previous_page: page > 1 ? pageUrl(ctx, { page: String(page - 1), per_page: String(perPage) }) : null,
        count: items.length,
        page,
        per_page: perPage,
        page_count: Math.max(1, Math.ceil(items.length / perPage)),
      },
    };
  };

  /** start_time must be an epoch second at least one minute in the past. */
  const startTime = (ctx: Ctx): number => {
    const raw = ctx.query.get('start_time');
    if (raw === null || raw === '') throw badRequest('start_time is required', 'InvalidValue');
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new SandboxError(422, { error: 'InvalidValue', description: 'start_time is not a valid epoch time' });
    if (value > nowSec() - 60) {
      throw new SandboxError(422, { error: 'InvalidValue', description: 'Too recent start_time. Use a start_time older than 1 minute' });
    }
    return Math.floor(value);
  };

  const exportPerPage = (ctx: Ctx) => Math.min(1000, Math.max(1, Number(ctx.query.get('per_page') ?? 1000) || 1000));

  /** First index whose (ts, id) is after (ats, aid), in a list sorted by (ts, id). */
  const firstAfter = (n: number, tsAt: (i: number) => number, idAt: (i: number) => number, ats: number, aid: number): number => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = tsAt(mid);
      if (t < ats || (t === ats && idAt(mid) <= aid)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const exportPosition = (ctx: Ctx): [number, number] => {
    const cursor = ctx.query.get('cursor');
    if (cursor) {
      const m = /^(\d+):(\d+)$/.exec(dec(cursor));
      if (!m) throw badRequest('cursor is invalid', 'InvalidPaginationParameter');
      return [Number(m[1]), Number(m[2])];
    }
    return [startTime(ctx) - 1, Number.MAX_SAFE_INTEGER];
  };

  /** Cursor-based incremental export over a list sorted by (ts, id). */
  const cursorExport = (ctx: Ctx, key: string, n: number, tsAt: (i: number) => number, idAt: (i: number) => number, render: (i: number) => unknown | null): Reply => {
    const [ats, aid] = exportPosition(ctx);
    const perPage = exportPerPage(ctx);
    const from = firstAfter(n, tsAt, idAt, ats, aid);
    // Records changed within the lag are not exported yet; the stream ends before them.
    const visible = exportLag > 0 ? firstAfter(n, tsAt, idAt, nowSec() - exportLag, Number.MAX_SAFE_INTEGER) : n;
    const to = Math.min(visible, Math.max(from, Math.min(n, from + perPage)));
    const items: unknown[] = [];
    for (let i = from; i < to; i++) {
      const item = render(i);
      if (item !== null) items.push(item);
    }
    const after = to > from ? `${tsAt(to - 1)}:${idAt(to - 1)}` : `${ats}:${aid}`;
    const before = to > from ? `${tsAt(from)}:${idAt(from) - 1}` : null;
    const base = `${store.baseUrl}${ctx.url.pathname}`;
    return {
      body: {
        [key]: items,
        after_url: `${base}?cursor=${enc(after)}&per_page=${perPage}`,
        after_cursor: enc(after),
        before_url: before ? `${base}?cursor=${enc(before)}&per_page=${perPage}` : null,
        before_cursor: before ? enc(before) : null,
        end_of_stream: to >= visible,
      },
    };
  };

  // ---------------------------------------------------------------------------------------------
  // Users

  const user = (id: number) => {
    const u = store.users.get(id);
    if (!u) throw notFound();
    return u;
  };
  const payload = (ctx: Ctx, key: string): Record<string, unknown> => {
    const value = ctx.body[key];
    if (!value || typeof value !== 'object') throw badRequest(`Parameter ${key} is required`, 'InvalidParameter');
    return value as Record<string, unknown>;
  };

  route('GET', '/api/v2/users/me', () => ({ body: { user: store.userJson(store.owner) } }));
  route('GET', '/api/v2/users/count', (ctx) => {
    const roles = [...ctx.query.getAll('role'), ...ctx.query.getAll('role[]')];
    let n = 0;
    for (const u of store.users.values()) if (roles.length === 0 || roles.includes(u.role)) n += u.role === 'end-user' && !u.active ? 0 : 1;
    return { body: { count: { value: n, refreshed_at: isoOf(nowSec()) } } };
  });
  /** Users that search lists (and create_or_update matches): not deleted end users. */
  const listedUser = (u: StoredUser | undefined): u is StoredUser => u !== undefined && (u.active || u.role !== 'end-user');
  route('GET', '/api/v2/users/search', (ctx) => {
    const external = ctx.query.get('external_id');
    const query = (ctx.query.get('query') ?? '').trim();
    const visible = listedUser;
    let found: StoredUser[];
    if (external !== null) found = [store.userByExternalId(external)].filter(visible);
    else if (query) {
      const m = /^email:"?([^"]+)"?$/.exec(query);
      if (m) found = [store.findUserByEmail(m[1])].filter(visible);
      else {
        const q = query.toLowerCase().replace(/^"|"$/g, '');
        found = [...store.users.values()].filter(
          (u) => visible(u) && (u.name.toLowerCase().includes(q) || (u.email ?? '').toLowerCase().includes(q) || u.external_id === query),
        );
      }
    } else throw badRequest('query or external_id is required', 'InvalidValue');
    return list(ctx, 'users', found, (u) => store.userJson(u));
  });
  route('GET', '/api/v2/users', (ctx) => {
    const roles = [...ctx.query.getAll('role'), ...ctx.query.getAll('role[]')];
    const all = [...store.users.values()].filter((u) => roles.length === 0 || roles.includes(u.role));
    return list(ctx, 'users', all, (u) => store.userJson(u));
  });
  route('GET', '/api/v2/users/:id', (ctx) => ({ body: { user: store.userJson(user(Number(ctx.params[0]))) } }));
  route('POST', '/api/v2/users', (ctx) => ({ status: 201, body: { user: store.userJson(store.applyUser(payload(ctx, 'user'), null)) } }));
  // "Create Or Update User": the user the external ID or else the email names is updated (200), or a new
  // one is created (201); the answer holds the user either way. Deleted end users are not matched, as search
  // does not list them.
  route('POST', '/api/v2/users/create_or_update', (ctx) => {
    const input = payload(ctx, 'user');
    const live = (u: StoredUser | undefined) => (listedUser(u) ? u : undefined);
    const existing =
      (typeof input.external_id === 'string' && input.external_id ? live(store.userByExternalId(input.external_id)) : undefined) ??
      (typeof input.email === 'string' && input.email ? live(store.findUserByEmail(input.email)) : undefined);
    const saved = store.applyUser(input, existing ?? null);
    return { status: existing ? 200 : 201, body: { user: store.userJson(saved) } };
  });
  route('PUT', '/api/v2/users/:id', (ctx) => {
    const existing = user(Number(ctx.params[0]));
    return { body: { user: store.userJson(store.applyUser(payload(ctx, 'user'), existing)) } };
  });
  route('DELETE', '/api/v2/users/:id', (ctx) => {
    const existing = user(Number(ctx.params[0]));
    const deleted = store.putUser({ ...existing, active: false, updated_at: isoOf(nowSec()) });
    for (const [id, m] of store.memberships) if (m.user_id === deleted.id) store.memberships.delete(id);
    return { body: { user: store.userJson(deleted) } };
  });
  /** Permanent deletion: only of a user already soft-deleted, as in Zendesk. */
  route('DELETE', '/api/v2/deleted_users/:id', (ctx) => {
    const existing = user(Number(ctx.params[0]));
    if (existing.active) throw invalid('user', 'User: must be deleted before it can be permanently deleted');
    store.removeUser(existing.id);
    return { body: { deleted_user: { id: existing.id, name: existing.name, email: existing.email, active: false } } };
  });
  route('GET', '/api/v2/incremental/users/cursor', (ctx) => {
    const users = store.usersByTime();
    return cursorExport(
      ctx,
      'users',
      users.length,
      (i) => users[i]._ts,
      (i) => users[i].id,
      (i) => store.userJson(users[i]),
    );
  });

  // ---------------------------------------------------------------------------------------------
  // Groups and memberships

  const group = (id: number) => {
    const g = store.groups.get(id);
    if (!g || g.deleted) throw notFound();
    return g;
  };
  const groupJson = (g: ZdGroup) => ({ ...g, url: `${store.baseUrl}/api/v2/groups/${g.id}.json` });
  const applyGroup = (input: Record<string, unknown>, existing: ZdGroup | null): ZdGroup => {
    const name = input.name ?? existing?.name;
    if (typeof name !== 'string' || !name.trim()) throw invalid('name', 'Name: cannot be blank', 'BlankValue');
    for (const g of store.groups.values()) {
      if (!g.deleted && g.id !== existing?.id && g.name.toLowerCase() === name.toLowerCase()) throw invalid('name', 'Name: has already been taken', 'DuplicateValue');
    }
    const now = isoOf(nowSec());
    const g: ZdGroup = existing
      ? { ...existing, name, updated_at: now }
      : { id: store.id(), name, description: '', default: false, deleted: false, is_public: true, created_at: now, updated_at: now };
    if (typeof input.description === 'string') g.description = input.description;
    store.groups.set(g.id, g);
    return g;
  };
  route('GET', '/api/v2/groups', (ctx) => list(ctx, 'groups', [...store.groups.values()].filter((g) => !g.deleted), groupJson));
  route('GET', '/api/v2/groups/count', () => ({
    body: { count: { value: [...store.groups.values()].filter((g) => !g.deleted).length, refreshed_at: isoOf(nowSec()) } },
  }));
  route('GET', '/api/v2/groups/:id', (ctx) => ({ body: { group: groupJson(group(Number(ctx.params[0]))) } }));
  route('POST', '/api/v2/groups', (ctx) => ({ status: 201, body: { group: groupJson(applyGroup(payload(ctx, 'group'), null)) } }));
  route('PUT', '/api/v2/groups/:id', (ctx) => ({ body: { group: groupJson(applyGroup(payload(ctx, 'group'), group(Number(ctx.params[0])))) } }));
  route('DELETE', '/api/v2/groups/:id', (ctx) => {
    const g = group(Number(ctx.params[0]));
    store.groups.set(g.id, { ...g, deleted: true, updated_at: isoOf(nowSec()) });
    return { status: 204 };
  });
  route('GET', '/api/v2/group_memberships', (ctx) => list(ctx, 'group_memberships', [...store.memberships.values()]));
  route('GET', '/api/v2/users/:id/group_memberships', (ctx) =>
    list(
      ctx,
      'group_memberships',
      [...store.memberships.values()].filter((m) => m.user_id === Number(ctx.params[0])),
    ),
  );
  route('POST', '/api/v2/group_memberships', (ctx) => {
    const input = payload(ctx, 'group_membership');
    const u = store.users.get(Number(input.user_id));
    if (!u || u.role === 'end-user') throw invalid('user_id', 'User: is not an agent');
    group(Number(input.group_id));
    for (const m of store.memberships.values()) {
      if (m.user_id === u.id && m.group_id === Number(input.group_id)) throw invalid('user_id', 'User: is already a member of this group', 'DuplicateValue');
    }
    const now = isoOf(nowSec());
    const m = { id: store.id(), user_id: u.id, group_id: Number(input.group_id), default: input.default === true, created_at: now, updated_at: now };
    store.memberships.set(m.id, m);
    return { status: 201, body: { group_membership: m } };
  });
  route('DELETE', '/api/v2/group_memberships/:id', (ctx) => {
    if (!store.memberships.delete(Number(ctx.params[0]))) throw notFound();
    return { status: 204 };
  });

  // ---------------------------------------------------------------------------------------------
  // Organizations

  const organization = (id: number) => {
    const o = store.organizations.get(id);
    if (!o || o.deleted_at) throw notFound();
    return o;
  };
  const liveOrgs = () => [...store.organizations.values()].filter((o) => !o.deleted_at);
  route('GET', '/api/v2/organizations', (ctx) => list(ctx, 'organizations', liveOrgs(), (o) => store.orgJson(o)));
  route('GET', '/api/v2/organizations/count', () => ({ body: { count: { value: liveOrgs().length, refreshed_at: isoOf(nowSec()) } } }));
  route('GET', '/api/v2/organizations/search', (ctx) => {
    const external = ctx.query.get('external_id');
    const name = ctx.query.get('name');
    if (external === null && name === null) throw badRequest('external_id or name is required', 'InvalidValue');
    const found = external !== null ? store.organizationsByExternalId(external) : [store.organizationByName(name!)].filter((o) => o !== undefined);
    return list(ctx, 'organizations', found, (o) => store.orgJson(o));
  });
  route('GET', '/api/v2/organizations/:id', (ctx) => ({ body: { organization: store.orgJson(organization(Number(ctx.params[0]))) } }));
  route('POST', '/api/v2/organizations', (ctx) => ({
    status: 201,
    body: { organization: store.orgJson(store.applyOrganization(payload(ctx, 'organization'), null)) },
  }));
  // "Create Or Update Organization": the organization its `id` or `external_id` names is updated (200), or
  // a new one is created (201). The name is not matched: a new one under a name already taken is refused.
  route('POST', '/api/v2/organizations/create_or_update', (ctx) => {
    const input = payload(ctx, 'organization');
    const byId = input.id !== undefined && input.id !== null ? store.organizations.get(Number(input.id)) : undefined;
    const existing =
      (byId && !byId.deleted_at ? byId : undefined) ??
      (typeof input.external_id === 'string' && input.external_id ? store.organizationsByExternalId(input.external_id)[0] : undefined);
    const saved = store.applyOrganization(input, existing ?? null);
    return { status: existing ? 200 : 201, body: { organization: store.orgJson(saved) } };
  });
  route('PUT', '/api/v2/organizations/:id', (ctx) => ({
    body: { organization: store.orgJson(store.applyOrganization(payload(ctx, 'organization'), organization(Number(ctx.params[0])))) },
  }));
  route('DELETE', '/api/v2/organizations/:id', (ctx) => {
    const o = organization(Number(ctx.params[0]));
    const now = isoOf(nowSec());
    store.putOrganization({ ...o, deleted_at: now, updated_at: now });
    return { status: 204 };
  });
  /**
   * Time-based export (Zendesk "Using the Incremental Export API" → "Time-based incremental exports"):
   * at most per_page (1000) records with a timestamp ≥ start_time; end_time is the last one's
   * timestamp and next_page starts there, so the boundary records come again on the next page. A page
   * is never stretched: when more records share one second than a page holds, end_time equals
   * start_time and next_page repeats the request, as Zendesk does (the loop its client libraries
   * report, e.g. zendesk_api_client_rb#168, zenpy#451).
   */
  const timeExport = <T>(
    ctx: Ctx,
    key: string,
    all: { ts: number; id: number; item: T }[],
    render: (item: T) => unknown,
    options: { sample?: boolean; sideload?: (items: T[]) => Record<string, unknown[]> } = {},
  ): Reply => {
    const start = startTime(ctx);
    // Incremental Sample Export: one page of at most 50 items ("Incremental Exports" → "Incremental Sample Export").
    const perPage = options.sample ? Math.min(50, exportPerPage(ctx)) : exportPerPage(ctx);
    const until = exportLag > 0 ? nowSec() - exportLag : Number.POSITIVE_INFINITY;
    const sorted = all.filter((r) => r.ts >= start && r.ts <= until).sort((a, b) => a.ts - b.ts || a.id - b.id);
    const end = Math.min(sorted.length, perPage);
    const page = sorted.slice(0, end);
    const endTime = page.length > 0 ? page[page.length - 1].ts : start;
    const include = ctx.query.get('include');
    return {
      body: {
        [key]: page.map((r) => render(r.item)),
        ...(options.sideload ? options.sideload(page.map((r) => r.item)) : {}),
        count: page.length,
        end_time: endTime,
        // next_page keeps the request's include, so sideloads and comment events go on page after page.
        next_page: `${store.baseUrl}${ctx.url.pathname}?start_time=${endTime}&per_page=${perPage}${include ? `&include=${encodeURIComponent(include)}` : ''}`,
        end_of_stream: end >= sorted.length,
      },
    };
  };
  route('GET', '/api/v2/incremental/organizations', (ctx) =>
    timeExport(ctx, 'organizations', [...store.organizations.values()].map((o) => ({ ts: o._ts, id: o.id, item: o })), (o) => store.orgJson(o)),
  );
  route('GET', '/api/v2/incremental/users', (ctx) =>
    timeExport(ctx, 'users', store.usersByTime().map((u) => ({ ts: u._ts, id: u.id, item: u })), (u) => store.userJson(u)),
  );
  /**
   * Side-loading on the ticket exports ("Incremental Exports" → "Side-loading"): `include=users,groups,
   * organizations,brands,ticket_forms` adds the records the page's tickets point at, once each. Names the
   * sandbox does not hold are ignored, as Zendesk ignores unknown sideloads.
   */
  const ticketSideloads = (ctx: Ctx) => {
    const names = new Set((ctx.query.get('include') ?? '').split(',').map((s) => s.trim()).filter(Boolean));
    if (names.size === 0) return undefined;
    return (tickets: ZdTicket[]): Record<string, unknown[]> => {
      const out: Record<string, unknown[]> = {};
      const ids = (keys: (keyof ZdTicket)[]) => {
        const set = new Set<number>();
        for (const t of tickets) for (const k of keys) if (typeof t[k] === 'number') set.add(t[k] as number);
        return [...set];
      };
      if (names.has('users')) out.users = ids(['requester_id', 'submitter_id', 'assignee_id']).flatMap((id) => (store.users.has(id) ? [store.userJson(store.users.get(id)!)] : []));
      if (names.has('groups')) out.groups = ids(['group_id']).flatMap((id) => (store.groups.has(id) ? [groupJson(store.groups.get(id)!)] : []));
      if (names.has('organizations')) out.organizations = ids(['organization_id']).flatMap((id) => (store.organizations.has(id) ? [store.orgJson(store.organizations.get(id)!)] : []));
      if (names.has('brands')) out.brands = tickets.length > 0 ? [brand()] : [];
      if (names.has('ticket_forms')) out.ticket_forms = tickets.length > 0 ? [ticketForm()] : [];
      return out;
    };
  };
  const ticketsForExport = () => {
    const order = store.ticketsByTime();
    return Array.from(order.ids, (id, i) => ({ ts: order.ts[i], id, item: id }));
  };
  const exportTickets = (ctx: Ctx, sample: boolean) => {
    const sideload = ticketSideloads(ctx);
    return timeExport(ctx, 'tickets', ticketsForExport(), (id) => store.ticketJson(store.ticket(id, true)!), {
      sample,
      sideload: sideload ? (ids) => sideload(ids.map((id) => store.ticketJson(store.ticket(id, true)!))) : undefined,
    });
  };
  route('GET', '/api/v2/incremental/tickets', (ctx) => exportTickets(ctx, false));
  route('GET', '/api/v2/incremental/tickets/sample', (ctx) => exportTickets(ctx, true));
  route('GET', '/api/v2/incremental/users/sample', (ctx) =>
    timeExport(ctx, 'users', store.usersByTime().map((u) => ({ ts: u._ts, id: u.id, item: u })), (u) => store.userJson(u), { sample: true }),
  );
  route('GET', '/api/v2/incremental/organizations/sample', (ctx) =>
    timeExport(ctx, 'organizations', [...store.organizations.values()].map((o) => ({ ts: o._ts, id: o.id, item: o })), (o) => store.orgJson(o), { sample: true }),
  );

  /**
   * Incremental Ticket Event Export ("Incremental Exports" → "Incremental Ticket Event Export"): one
   * audit event per comment, at the comment's time, with the ticket's field values as of now. Its
   * `child_events` carry the Create events on the ticket's first audit and the comment the audit added:
   * with the `comment_events` sideload as the whole Comment event (`type` and `event_type` Comment, a
   * `via` object, body, author, visibility, attachments, audit), without it only as the booleans
   * `comment_present` and `comment_public`. Time-based: same page rules as the other time-based exports.
   */
  const ticketEvents = () => {
    const out: { ts: number; id: number; item: { ticket: StoredTicket; index: number } }[] = [];
    for (const id of store.ticketsByTime().ids) {
      const t = store.ticket(id, true);
      if (!t) continue;
      t.comments.forEach((c, index) => out.push({ ts: c.created_at, id: c.id + 1, item: { ticket: t, index } }));
    }
    return out;
  };
  const ticketEventJson = (withComments: boolean) => ({ ticket, index }: { ticket: StoredTicket; index: number }) => {
    const c = ticket.comments[index];
    const json = store.ticketJson(ticket);
    const child: Record<string, unknown>[] = [];
    if (index === 0) {
      for (const k of ['subject', 'status', 'priority', 'type', 'requester_id', 'assignee_id', 'group_id'] as const) {
        if (json[k] !== null && json[k] !== undefined && json[k] !== '') child.push({ id: 9e12 + ticket.id * 10 + child.length, via: 'Web form', event_type: 'Create', [k]: json[k] });
      }
    }
    const comment = store.commentJson(c);
    if (withComments) {
      child.push({
        id: c.id,
        via: comment.via,
        via_reference_id: null,
        type: 'Comment',
        author_id: comment.author_id,
        body: comment.body,
        html_body: comment.html_body,
        plain_body: comment.plain_body,
        public: comment.public,
        // Only List Comments lists inline images, and only on request (`include_inline_images`); the export has no such option.
        attachments: comment.attachments.filter((a) => !a.inline),
        audit_id: comment.audit_id,
        created_at: comment.created_at,
        event_type: 'Comment',
      });
    } else {
      child.push({ id: c.id, via: 'Web form', via_reference_id: null, comment_present: true, comment_public: comment.public });
    }
    return {
      id: c.id + 1,
      ticket_id: ticket.id,
      timestamp: c.created_at,
      created_at: isoOf(c.created_at),
      updater_id: c.author_id ?? -1,
      via: 'Web form',
      system: {},
      event_type: 'Audit',
      merged_ticket_ids: [],
      child_events: child,
    };
  };
  const includesComments = (ctx: Ctx) => (ctx.query.get('include') ?? '').split(',').map((s) => s.trim()).includes('comment_events');
  route('GET', '/api/v2/incremental/ticket_events', (ctx) => timeExport(ctx, 'ticket_events', ticketEvents(), ticketEventJson(includesComments(ctx))));
  route('GET', '/api/v2/incremental/ticket_events/sample', (ctx) =>
    timeExport(ctx, 'ticket_events', ticketEvents(), ticketEventJson(includesComments(ctx)), { sample: true }),
  );

  // ---------------------------------------------------------------------------------------------
  // Ticket fields

  const ticketField = (id: number) => {
    const f = store.ticketFields.get(id);
    if (!f) throw notFound();
    return f;
  };
  const fieldJson = (f: ZdTicketField) => ({ ...f, url: `${store.baseUrl}/api/v2/ticket_fields/${f.id}.json` });
  const CUSTOM_TYPES = ['text', 'textarea', 'checkbox', 'date', 'integer', 'decimal', 'regexp', 'partialcreditcard', 'multiselect', 'tagger', 'lookup'];
  const applyField = (input: Record<string, unknown>, existing: ZdTicketField | null): ZdTicketField => {
    const type = (input.type ?? existing?.type) as ZdTicketField['type'];
    if (!CUSTOM_TYPES.includes(type)) throw invalid('type', `Type: ${String(type)} is not a valid field type`);
    const title = input.title ?? existing?.title;
    if (typeof title !== 'string' || !title.trim()) throw invalid('title', 'Title: cannot be blank', 'BlankValue');
    const now = isoOf(nowSec());
    const f: ZdTicketField = existing
      ? { ...existing, updated_at: now }
      : {
          id: store.id(),
          type,
          title,
          raw_title: title,
          description: '',
          position: 1000 + store.ticketFields.size,
          active: true,
          required: false,
          removable: true,
          tag: null,
          regexp_for_validation: null,
          created_at: now,
          updated_at: now,
        };
    f.title = title;
    f.raw_title = title;
    for (const key of ['active', 'required', 'description', 'agent_description', 'regexp_for_validation', 'tag'] as const) {
      if (input[key] !== undefined) (f as unknown as Record<string, unknown>)[key] = input[key];
    }
    if (type === 'tagger' || type === 'multiselect') {
      const options = (input.custom_field_options ?? existing?.custom_field_options) as { name?: string; value?: string; id?: number }[] | undefined;
      if (!options || options.length === 0) throw invalid('custom_field_options', 'Field options: must have at least one option');
      const seen = new Set<string>();
      f.custom_field_options = options.map((o) => {
        if (!o.name || !o.value) throw invalid('custom_field_options', 'Field options: name and value are required', 'BlankValue');
        const value = tagValue(o.value);
        if (seen.has(value)) throw invalid('custom_field_options', `Field options: tag ${value} is used twice`, 'DuplicateValue');
        seen.add(value);
        const prior = existing?.custom_field_options?.find((p) => p.value === value);
        return { id: prior?.id ?? o.id ?? store.id(), name: o.name, raw_name: o.name, value, default: false };
      });
    }
    store.ticketFields.set(f.id, f);
    return f;
  };
  route('GET', '/api/v2/ticket_fields', (ctx) => {
    const fields = [...store.ticketFields.values()].sort((a, b) => a.position - b.position || a.id - b.id);
    const reply = list(ctx, 'ticket_fields', fields, fieldJson);
    return reply;
  });
  route('GET', '/api/v2/ticket_fields/:id', (ctx) => ({ body: { ticket_field: fieldJson(ticketField(Number(ctx.params[0]))) } }));
  route('POST', '/api/v2/ticket_fields', (ctx) => ({ status: 201, body: { ticket_field: fieldJson(applyField(payload(ctx, 'ticket_field'), null)) } }));
  route('PUT', '/api/v2/ticket_fields/:id', (ctx) => {
    const existing = ticketField(Number(ctx.params[0]));
    if (!existing.removable) throw new SandboxError(403, { error: 'Forbidden', description: 'System fields cannot be changed this way' });
    return { body: { ticket_field: fieldJson(applyField(payload(ctx, 'ticket_field'), existing)) } };
  });
  route('DELETE', '/api/v2/ticket_fields/:id', (ctx) => {
    const existing = ticketField(Number(ctx.params[0]));
    if (!existing.removable) throw new SandboxError(403, { error: 'Forbidden', description: 'System fields cannot be deleted' });
    store.ticketFields.delete(existing.id);
    return { status: 204 };
  });

  // ---------------------------------------------------------------------------------------------
  // Tickets, comments, imports, uploads

  const ticket = (id: number): StoredTicket => {
    const t = store.ticket(id);
    if (!t) throw notFound();
    return t;
  };
  route('GET', '/api/v2/tickets/count', () => ({ body: { count: { value: store.ticketCount, refreshed_at: isoOf(nowSec()) } } }));
  route('GET', '/api/v2/tickets', (ctx) => {
    const external = ctx.query.get('external_id');
    if (external === null) {
      const ids: number[] = [];
      const order = store.ticketsByTime();
      // Archived tickets are not in List Tickets ("Tickets" → "List Tickets"); exports and show keep them.
      for (const id of order.ids) if (store.ticket(id) && !store.ticket(id)!.archived) ids.push(id);
      // Sorted by ID unless asked otherwise ("List Tickets" → sort_by, sort_order asc|desc, default asc); of
      // the platform's sort_by values id, created_at and updated_at are served here, ties broken by ID.
      const sortBy = ctx.query.get('sort_by') ?? 'id';
      if (sortBy !== 'id' && sortBy !== 'created_at' && sortBy !== 'updated_at') {
        throw badRequest(`sort_by=${sortBy} is not served by the sandbox (id, created_at and updated_at are)`, 'InvalidValue');
      }
      const sign = ctx.query.get('sort_order') === 'desc' ? -1 : 1;
      const key = (id: number) => (sortBy === 'id' ? 0 : sortBy === 'created_at' ? store.ticket(id)!.created_at : store.ticket(id)!.updated_at);
      ids.sort((a, b) => sign * (key(a) - key(b) || a - b));
      return list(ctx, 'tickets', ids, (id) => store.ticketJson(store.ticket(id)!));
    }
    const found = store.ticketsByExternalId(external);
    return list(ctx, 'tickets', found, (t) => store.ticketJson(t));
  });
  route('GET', '/api/v2/tickets/:id', (ctx) => ({ body: { ticket: store.ticketJson(ticket(Number(ctx.params[0]))) } }));
  route('GET', '/api/v2/tickets/:id/comments', (ctx) => {
    const t = ticket(Number(ctx.params[0]));
    const includeInline = ctx.query.get('include_inline_images') === 'true';
    let comments = t.comments.map((c) =>
      includeInline || !c.attachments.some((a) => a.inline) ? c : { ...c, attachments: c.attachments.filter((a) => !a.inline) },
    );
    if (ctx.query.get('sort_order') === 'desc') comments = [...comments].reverse();
    return list(ctx, 'comments', comments, (c) => store.commentJson(c));
  });
  /** Create Ticket answers the ticket and the audit of its creation (Zendesk "Tickets" → "Create Ticket"). */
  route('POST', '/api/v2/tickets', (ctx) => {
    const t = store.createTicket(store.resolveRequester(payload(ctx, 'ticket'), store.owner));
    const json = store.ticketJson(t);
    const first = t.comments[0];
    const events = [
      ...(['subject', 'status', 'priority', 'type', 'requester_id', 'assignee_id', 'group_id'] as const)
        .filter((k) => json[k] !== null && json[k] !== undefined && json[k] !== '')
        .map((k) => ({ id: store.id(), type: 'Create', field_name: k, value: String(json[k]) })),
      { id: first.id, type: 'Comment', author_id: first.author_id, body: json.description, html_body: first.html_body, public: first.public, attachments: [] },
    ];
    return {
      status: 201,
      body: { ticket: json, audit: { id: store.id(), ticket_id: t.id, created_at: json.created_at, author_id: store.owner.id, metadata: { system: {}, custom: {} }, via: { channel: 'api' }, events } },
    };
  });
  route('PUT', '/api/v2/tickets/:id', (ctx) => {
    const { ticket: t, comment } = store.updateTicket(Number(ctx.params[0]), payload(ctx, 'ticket'));
    const json = store.ticketJson(t);
    return { body: { ticket: json, audit: { id: comment ? comment.id + 1 : store.id(), ticket_id: t.id, created_at: json.updated_at, events: [] } } };
  });
  route('DELETE', '/api/v2/tickets/:id', (ctx) => {
    ticket(Number(ctx.params[0]));
    store.deleteTicket(Number(ctx.params[0]));
    return { status: 204 };
  });
  route('GET', '/api/v2/incremental/tickets/cursor', (ctx) => {
    const order = store.ticketsByTime();
    const excludeDeleted = ctx.query.get('exclude_deleted') === 'true';
    return cursorExport(
      ctx,
      'tickets',
      order.ids.length,
      (i) => order.ts[i],
      (i) => order.ids[i],
      (i) => {
        const t = store.ticket(order.ids[i], true);
        if (!t) return null;
        const json = store.ticketJson(t);
        return excludeDeleted && json.status === 'deleted' ? null : json;
      },
    );
  });
  const archiveImmediately = (ctx: Ctx) => ctx.query.get('archive_immediately') === 'true';
  route('POST', '/api/v2/imports/tickets', (ctx) => ({
    status: 201,
    body: { ticket: store.ticketJson(store.importTicket(payload(ctx, 'ticket'), archiveImmediately(ctx))) },
  }));
  route('POST', '/api/v2/imports/tickets/create_many', (ctx) => {
    const tickets = ctx.body.tickets;
    if (!Array.isArray(tickets)) throw badRequest('Parameter tickets is required', 'InvalidParameter');
    if (tickets.length > 100) throw badRequest('Too many tickets: at most 100 per request', 'TooManyValues');
    const id = `V3-${store.id().toString(16)}`;
    const results = tickets.map((input, index) => {
      try {
        return { index, id: store.importTicket(input as Record<string, unknown>, archiveImmediately(ctx)).id, status: 'Created', success: true };
      } catch (err) {
        const details = err instanceof SandboxError ? JSON.stringify(err.body) : String(err);
        return { index, error: 'TicketCreateFailed', details, success: false };
      }
    });
    const job = {
      id,
      url: `${store.baseUrl}/api/v2/job_statuses/${id}.json`,
      status: 'completed' as const,
      job_type: 'bulk_import_tickets',
      total: tickets.length,
      progress: tickets.length,
      message: `Completed at ${isoOf(nowSec())}`,
      results,
    };
    store.jobs.set(id, job);
    return { body: { job_status: { ...job, status: 'queued', progress: null, message: null, results: null } } };
  });
  // "Show Many Job Statuses": `ids` comma-separated; unknown IDs are left out of the answer.
  route('GET', '/api/v2/job_statuses/show_many', (ctx) => {
    const raw = ctx.query.get('ids');
    if (!raw) throw badRequest('ids is required', 'InvalidValue');
    const ids = raw.split(',').map((x) => x.trim()).filter(Boolean);
    if (ids.length > 100) throw badRequest('Too many ids: at most 100 per request', 'TooManyValues');
    return { body: { job_statuses: ids.flatMap((id) => store.jobs.get(id) ?? []) } };
  });
  route('GET', '/api/v2/job_statuses/:tok', (ctx) => {
    const job = store.jobs.get(ctx.params[0]);
    if (!job) throw notFound();
    return { body: { job_status: job } };
  });
  route('POST', '/api/v2/uploads', (ctx) => {
    const filename = ctx.query.get('filename');
    if (!filename) throw badRequest('filename is required', 'InvalidValue');
    // Zendesk help center, "Attaching files to tickets": at most 50 MB per file. The reference does not
    // show the refusal; 413 is HTTP's answer to a body over the server's limit.
    if (ctx.raw.length > ZD_UPLOAD_MAX_BYTES) throw new HttpError(413, { error: 'FileTooLarge', description: `The file is ${ctx.raw.length} bytes; uploads take at most ${ZD_UPLOAD_MAX_BYTES} bytes (50 MB)` });
    const { token, attachment, all } = store.upload(filename, String(ctx.headers['content-type'] ?? ''), new Uint8Array(ctx.raw), ctx.query.get('token'));
    return {
      status: 201,
      body: {
        upload: {
          token,
          expires_at: isoOf(nowSec() + 3 * 86_400),
          attachment: store.attachmentJson(attachment),
          attachments: all.map((a) => store.attachmentJson(a)),
        },
      },
    };
  });

  // ---------------------------------------------------------------------------------------------
  // More of what a migration reads: attachments, show_many, audits, deleted tickets, forms, fields, brands

  route('GET', '/api/v2/attachments/:id', (ctx) => {
    const a = store.attachmentById(Number(ctx.params[0]));
    if (!a) throw notFound();
    return { body: { attachment: store.attachmentJson(a) } };
  });

  /** `ids` (comma-separated, at most 100) of existing records; unknown IDs are left out ("Show Multiple …"). */
  const showMany = <T>(ctx: Ctx, key: string, find: (id: number) => T | undefined, render: (item: T) => unknown): Reply => {
    const raw = ctx.query.get('ids');
    if (!raw) throw badRequest('ids is required', 'InvalidValue');
    const ids = raw.split(',').map((x) => Number(x.trim()));
    if (ids.some((id) => !Number.isInteger(id) || id <= 0)) throw badRequest('ids must be a comma-separated list of IDs', 'InvalidValue');
    if (ids.length > 100) throw badRequest('Too many ids: at most 100', 'TooManyValues');
    const found = [...new Set(ids)].flatMap((id) => {
      const item = find(id);
      return item === undefined ? [] : [item];
    });
    return list(ctx, key, found, render);
  };
  route('GET', '/api/v2/tickets/show_many', (ctx) => showMany(ctx, 'tickets', (id) => store.ticket(id), (t) => store.ticketJson(t)));
  route('GET', '/api/v2/users/show_many', (ctx) => showMany(ctx, 'users', (id) => store.users.get(id), (u) => store.userJson(u)));
  route('GET', '/api/v2/organizations/show_many', (ctx) =>
    showMany(ctx, 'organizations', (id) => { const o = store.organizations.get(id); return o && !o.deleted_at ? o : undefined; }, (o) => store.orgJson(o)),
  );

  /** One audit per comment, the first also carrying the ticket's creation ("Ticket Audits" → "List Audits for a Ticket"). */
  route('GET', '/api/v2/tickets/:id/audits', (ctx) => {
    const t = store.ticket(Number(ctx.params[0]), true);
    if (!t) throw notFound();
    const json = store.ticketJson(t);
    const audits = t.comments.map((c, i) => {
      const comment = store.commentJson(c);
      const created = i === 0
        ? (['subject', 'status', 'priority', 'type', 'requester_id', 'assignee_id', 'group_id'] as const)
            .filter((k) => json[k] !== null && json[k] !== undefined)
            .map((k, n) => ({ id: 9e12 + t.id * 10 + n, type: 'Create', field_name: k, value: String(json[k]) }))
        : [];
      return {
        id: comment.audit_id,
        ticket_id: t.id,
        created_at: comment.created_at,
        author_id: c.author_id,
        metadata: { system: {}, custom: {} },
        via: comment.via,
        events: [{ id: c.id, type: 'Comment', author_id: c.author_id, body: comment.body, html_body: comment.html_body, public: c.public, attachments: comment.attachments }, ...created],
      };
    });
    return list(ctx, 'audits', audits);
  });

  /** Soft-deleted tickets ("Tickets" → "List Deleted Tickets"). */
  route('GET', '/api/v2/deleted_tickets', (ctx) =>
    list(ctx, 'deleted_tickets', store.deletedTicketList(), (t) => {
      const json = store.ticketJson(t);
      return {
        id: t.id,
        subject: t.subject,
        description: json.description,
        actor: { id: store.owner.id, name: store.owner.name },
        deleted_at: json.updated_at,
        previous_state: t.status,
      };
    }),
  );

  /** A user's email and phone identities ("User Identities" → "List Identities"). */
  route('GET', '/api/v2/users/:id/identities', (ctx) => {
    const u = user(Number(ctx.params[0]));
    const identities = [
      ...(u.email ? [{ id: u.id * 10 + 1, type: 'email', value: u.email, verified: u.verified, primary: true }] : []),
      ...(u.phone ? [{ id: u.id * 10 + 2, type: 'phone_number', value: u.phone, verified: false, primary: !u.email }] : []),
    ].map((i) => ({ url: `${store.baseUrl}/api/v2/users/${u.id}/identities/${i.id}.json`, user_id: u.id, ...i, created_at: u.created_at, updated_at: u.updated_at }));
    return list(ctx, 'identities', identities);
  });

  /**
   * Search ("Search" → "List Search Results", "Export Search Results"), a subset of the query syntax:
   * `type:`, `status:`, `external_id:`, `email:`, `name:`, `tags:`, `requester:`, `organization:`,
   * `created`/`updated` with `:`, `>`, `<` and a date or time, and plain words (in subject, name or
   * email). Records are searchable at once; Zendesk may take minutes to index a new one.
   */
  type Found = { type: 'ticket' | 'user' | 'organization'; ts: { created: number; updated: number }; id: number; json: Record<string, unknown> };
  const searchable = (types: Set<string>): Found[] => {
    const out: Found[] = [];
    if (types.has('ticket')) {
      for (const id of store.ticketsByTime().ids) {
        const t = store.ticket(id);
        if (t) out.push({ type: 'ticket', id, ts: { created: t.created_at, updated: t.updated_at }, json: store.ticketJson(t) as unknown as Record<string, unknown> });
      }
    }
    if (types.has('user')) {
      for (const u of store.users.values()) {
        if (u.active || u.role !== 'end-user') out.push({ type: 'user', id: u.id, ts: { created: sec(u.created_at), updated: sec(u.updated_at) }, json: store.userJson(u) as unknown as Record<string, unknown> });
      }
    }
    if (types.has('organization')) {
      for (const o of liveOrgs()) out.push({ type: 'organization', id: o.id, ts: { created: sec(o.created_at), updated: sec(o.updated_at) }, json: store.orgJson(o) as unknown as Record<string, unknown> });
    }
    return out.sort((a, b) => a.ts.created - b.ts.created || a.id - b.id);
  };
  const search = (query: string, only: string | null): Found[] => {
    const terms = query.trim().split(/\s+/).filter((x) => x);
    const types = new Set(only ? [only] : ['ticket', 'user', 'organization']);
    const tests: ((f: Found) => boolean)[] = [];
    for (const term of terms) {
      const m = /^(-?)([a-z_]+)(:|>=|<=|>|<)"?(.+?)"?$/i.exec(term);
      if (!m) {
        const word = term.replace(/^"|"$/g, '').toLowerCase();
        tests.push((f) => ['subject', 'description', 'name', 'email'].some((k) => String(f.json[k] ?? '').toLowerCase().includes(word)));
        continue;
      }
      const [, negate, key, op, value] = m;
      const v = value.toLowerCase();
      let test: (f: Found) => boolean;
      if (key === 'type') {
        if (!['ticket', 'user', 'organization'].includes(v)) throw badRequest(`type ${value} is not searchable here`, 'InvalidValue');
        for (const t of [...types]) if (t !== v) types.delete(t);
        continue;
      } else if (key === 'created' || key === 'updated') {
        const at = sec(value.length === 10 ? `${value}T00:00:00Z` : value);
        if (!Number.isFinite(at)) throw badRequest(`${key} needs a date`, 'InvalidValue');
        const day = value.length === 10;
        test = (f) => {
          const ts = f.ts[key];
          if (op === ':') return day ? ts >= at && ts < at + 86_400 : ts === at;
          if (op === '>') return ts > (day ? at + 86_399 : at);
          if (op === '>=') return ts >= at;
          if (op === '<') return ts < at;
          return ts <= (day ? at + 86_399 : at);
        };
      } else if (key === 'tags' || key === 'tag') test = (f) => Array.isArray(f.json.tags) && (f.json.tags as string[]).includes(v);
      else if (key === 'requester') test = (f) => String(f.json.requester_id) === value || store.users.get(Number(f.json.requester_id))?.email?.toLowerCase() === v;
      else if (key === 'organization') test = (f) => String(f.json.organization_id) === value || (f.type === 'organization' && String(f.json.id) === value);
      else test = (f) => String(f.json[key] ?? '').toLowerCase() === v;
      tests.push(negate ? (f) => !test(f) : test);
    }
    return searchable(types).filter((f) => tests.every((t) => t(f)));
  };
  const resultJson = (f: Found) => ({ ...f.json, result_type: f.type });
  route('GET', '/api/v2/search', (ctx) => {
    const query = ctx.query.get('query');
    if (!query) throw badRequest('query is required', 'InvalidValue');
    const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page') ?? 100) || 100));
    const page = Math.max(1, Number(ctx.query.get('page') ?? 1) || 1);
    // "Results limit": up to 1,000 results per query; a page past them is a 422.
    if ((page - 1) * perPage >= 1000) {
      throw new SandboxError(422, { error: 'InvalidSearch', description: 'Invalid search: Requested response size was greater than Search Response Limits' });
    }
    const found = search(query, null);
    const reachable = Math.min(found.length, 1000);
    const slice = found.slice((page - 1) * perPage, Math.min(page * perPage, reachable));
    return {
      body: {
        results: slice.map(resultJson),
        facets: null,
        next_page: page * perPage < reachable ? pageUrl(ctx, { page: String(page + 1), per_page: String(perPage) }) : null,
        previous_page: page > 1 ? pageUrl(ctx, { page: String(page - 1), per_page: String(perPage) }) : null,
        count: found.length,
      },
    };
  });
  route('GET', '/api/v2/search/export', (ctx) => {
    const query = ctx.query.get('query');
    if (!query) throw badRequest('query is required', 'InvalidValue');
    const type = ctx.query.get('filter[type]');
    if (!type || !['ticket', 'user', 'organization'].includes(type)) throw badRequest('filter[type] must be ticket, user or organization', 'InvalidValue');
    const size = Math.min(1000, Math.max(1, Number(ctx.query.get('page[size]') ?? 100) || 100));
    const after = ctx.query.get('page[after]');
    const start = after ? Number(dec(after)) : 0;
    if (!Number.isInteger(start) || start < 0) throw badRequest('page[after] is invalid', 'InvalidPaginationParameter');
    const found = search(query, type);
    const slice = found.slice(start, start + size);
    const hasMore = start + size < found.length;
    const cursor = enc(String(start + slice.length));
    return {
      body: {
        results: slice.map(resultJson),
        facets: null,
        meta: { has_more: hasMore, after_cursor: hasMore ? cursor : null, before_cursor: start > 0 ? enc(String(start)) : null },
        links: { next: hasMore ? pageUrl(ctx, { 'page[after]': cursor }) : null, prev: null },
      },
    };
  });

  const TICKET_FORM_ID = 360_000_001;
  const BRAND_ID = 360_000_002;
  /** The account's one default form, holding every ticket field ("Ticket Forms" → "List Ticket Forms"). */
  const ticketForm = () => {
    const at = isoOf(nowSec() - 86_400 * 365);
    return {
      id: TICKET_FORM_ID,
      url: `${store.baseUrl}/api/v2/ticket_forms/${TICKET_FORM_ID}.json`,
      name: 'Default Ticket Form',
      raw_name: 'Default Ticket Form',
      display_name: 'Default Ticket Form',
      raw_display_name: 'Default Ticket Form',
      position: 1,
      active: true,
      default: true,
      end_user_visible: true,
      in_all_brands: true,
      restricted_brand_ids: [],
      ticket_field_ids: [...store.ticketFields.values()].sort((a, b) => a.position - b.position || a.id - b.id).map((f) => f.id),
      agent_conditions: [],
      end_user_conditions: [],
      created_at: at,
      updated_at: at,
    };
  };
  route('GET', '/api/v2/ticket_forms', (ctx) => list(ctx, 'ticket_forms', [ticketForm()]));
  route('GET', '/api/v2/ticket_forms/:id', (ctx) => {
    if (Number(ctx.params[0]) !== TICKET_FORM_ID) throw notFound();
    return { body: { ticket_form: ticketForm() } };
  });
  // The generated account defines no custom user or organization fields.
  route('GET', '/api/v2/user_fields', (ctx) => list(ctx, 'user_fields', []));
  route('GET', '/api/v2/organization_fields', (ctx) => list(ctx, 'organization_fields', []));
  /** The account's one default brand ("Brands" → "List Brands"). */
  const brand = () => {
    const at = isoOf(nowSec() - 86_400 * 365);
    return {
      id: BRAND_ID,
      url: `${store.baseUrl}/api/v2/brands/${BRAND_ID}.json`,
      name: 'Sandbox',
      brand_url: store.baseUrl,
      subdomain: 'sandbox',
      host_mapping: null,
      has_help_center: true,
      help_center_state: 'enabled',
      active: true,
      default: true,
      is_deleted: false,
      logo: null,
      ticket_form_ids: [TICKET_FORM_ID],
      signature_template: '{{agent.signature}}',
      created_at: at,
      updated_at: at,
    };
  };
  route('GET', '/api/v2/brands', (ctx) => list(ctx, 'brands', [brand()]));
  route('GET', '/api/v2/brands/:id', (ctx) => {
    if (Number(ctx.params[0]) !== BRAND_ID) throw notFound();
    return { body: { brand: brand() } };
  });

  // ---------------------------------------------------------------------------------------------
  // Help Center

  const hcList = <T extends { position: number; id: number }>(items: Iterable<KbItem<T>>) =>
    [...items].map((k) => k.item).sort((a, b) => a.position - b.position || a.id - b.id);
  const kb = <T>(map: Map<number, KbItem<T>>, id: number): KbItem<T> => {
    const k = map.get(id);
    if (!k) throw notFound();
    return k;
  };
  const withUrl = <T extends { id: number }>(kind: string) => (item: T) => ({
    ...item,
    url: `${store.baseUrl}/api/v2/help_center/${kind}/${item.id}.json`,
    html_url: `${store.baseUrl}/hc/${kind}/${item.id}`,
  });
  const categoryJson = withUrl<ZdCategory>('categories');
  const sectionJson = withUrl<ZdSection>('sections');
  const articleJson = withUrl<ZdArticle>('articles');
  const translationJson = (t: ZdTranslation) => ({ ...t, url: `${store.baseUrl}/api/v2/help_center/translations/${t.id}.json` });
  const requireLocale = (input: Record<string, unknown>, fallback: string) => (typeof input.locale === 'string' && input.locale ? input.locale : fallback);

  /** Name/title and description/body live in translations; the item shows its source locale's. */
  const putTranslation = <T extends { id: number; source_locale: string; updated_at: string }>(
    k: KbItem<T>,
    type: ZdTranslation['source_type'],
    locale: string,
    input: Record<string, unknown>,
    create: boolean,
  ): ZdTranslation => {
    const existing = k.translations.get(locale);
    if (create && existing) throw invalid('locale', 'Locale: has already been taken', 'DuplicateValue');
    if (!create && !existing) throw notFound();
    const now = isoOf(nowSec());
    const title = input.title ?? existing?.title;
    if (typeof title !== 'string' || !title.trim()) throw invalid('title', 'Title: cannot be blank', 'BlankValue');
    const t: ZdTranslation = existing
      ? { ...existing, updated_at: now }
      : store.kbTranslation(k.item.id, type, locale, title, '', false, now);
    t.title = title;
    if (typeof input.body === 'string') t.body = input.body;
    if (typeof input.draft === 'boolean') t.draft = input.draft;
    k.translations.set(locale, t);
    if (locale === k.item.source_locale) {
      const item = k.item as unknown as Record<string, unknown>;
      if (type === 'Article') {
        item.title = t.title;
        item.body = t.body;
        item.draft = t.draft;
      } else {
        item.name = t.title;
        item.description = t.body;
      }
    }
    k.item.updated_at = now;
    return t;
  };

  /** What a new category and a new section share: a name (required) and description in the source locale, a position. */
  const namedKbFields = (input: Record<string, unknown>, defaultLocale: string) => {
    if (typeof input.name !== 'string' || !input.name.trim()) throw invalid('name', 'Name: cannot be blank', 'BlankValue');
    const locale = requireLocale(input, defaultLocale);
    const now = isoOf(nowSec());
    return {
      id: store.id(),
      name: input.name,
      description: typeof input.description === 'string' ? input.description : '',
      locale,
      source_locale: locale,
      position: typeof input.position === 'number' ? input.position : 0,
      outdated: false,
      created_at: now,
      updated_at: now,
    };
  };
  /** Keeps a new category or section with its source-locale translation. */
  const keepNamedKb = <T extends ZdCategory | ZdSection>(map: Map<number, KbItem<T>>, item: T, type: 'Category' | 'Section') =>
    map.set(item.id, {
      item,
      translations: new Map([[item.source_locale, store.kbTranslation(item.id, type, item.source_locale, item.name, item.description, false, item.created_at)]]),
    });
  /** List, show and put a translation by locale: answered alike for categories, sections and articles. */
  const hcRecordRoutes = <T extends { id: number; position: number; source_locale: string; updated_at: string }>(
    path: 'categories' | 'sections' | 'articles',
    key: 'category' | 'section' | 'article',
    map: Map<number, KbItem<T>>,
    json: (item: T) => unknown,
    type: ZdTranslation['source_type'],
  ) => {
    route('GET', `/api/v2/help_center/${path}`, (ctx) => list(ctx, path, hcList(map.values()), json));
    route('GET', `/api/v2/help_center/${path}/:id`, (ctx) => ({ body: { [key]: json(kb(map, Number(ctx.params[0])).item) } }));
    route('PUT', `/api/v2/help_center/${path}/:id/translations/:loc`, (ctx) => ({
      body: { translation: translationJson(putTranslation(kb(map, Number(ctx.params[0])), type, ctx.params[1], payload(ctx, 'translation'), false)) },
    }));
  };
  /** A record's translations. */
  const hcTranslationList = <T>(path: 'categories' | 'articles', map: Map<number, KbItem<T>>) =>
    route('GET', `/api/v2/help_center/${path}/:id/translations`, (ctx) => list(ctx, 'translations', [...kb(map, Number(ctx.params[0])).translations.values()], translationJson));
  /** A parent's children in position order; an unknown parent is a 404. */
  const hcChildren = <P, T extends { id: number; position: number }>(
    parentPath: 'categories' | 'sections',
    parents: Map<number, KbItem<P>>,
    childPath: 'sections' | 'articles',
    children: Map<number, KbItem<T>>,
    parentOf: (item: T) => number,
    json: (item: T) => unknown,
  ) =>
    route('GET', `/api/v2/help_center/${parentPath}/:id/${childPath}`, (ctx) => {
      const id = Number(ctx.params[0]);
      kb(parents, id);
      return list(ctx, childPath, hcList([...children.values()].filter((c) => parentOf(c.item) === id)), json);
    });

  route('GET', '/api/v2/guide/permission_groups', (ctx) =>
    list(ctx, 'permission_groups', [
      { id: store.permissionGroupId, name: 'Admins', built_in: true, publish: [], edit: [], created_at: isoOf(0), updated_at: isoOf(0) },
    ]),
  );
  hcRecordRoutes('categories', 'category', store.categories, categoryJson, 'Category');
  hcTranslationList('categories', store.categories);
  hcChildren('categories', store.categories, 'sections', store.sections, (s) => s.category_id, sectionJson);
  route('POST', '/api/v2/help_center/categories', (ctx) => {
    const item: ZdCategory = namedKbFields(payload(ctx, 'category'), 'en-us');
    keepNamedKb(store.categories, item, 'Category');
    return { status: 201, body: { category: categoryJson(item) } };
  });
  route('PUT', '/api/v2/help_center/categories/:id', (ctx) => {
    const k = kb(store.categories, Number(ctx.params[0]));
    const input = payload(ctx, 'category');
    if (typeof input.position === 'number') k.item.position = input.position;
    k.item.updated_at = isoOf(nowSec());
    return { body: { category: categoryJson(k.item) } };
  });
  route('DELETE', '/api/v2/help_center/categories/:id', (ctx) => {
    const id = Number(ctx.params[0]);
    kb(store.categories, id);
    store.categories.delete(id);
    for (const [sid, s] of store.sections) {
      if (s.item.category_id !== id) continue;
      store.sections.delete(sid);
      for (const [aid, a] of store.articles) if (a.item.section_id === sid) store.articles.delete(aid);
    }
    return { status: 204 };
  });
  route('POST', '/api/v2/help_center/categories/:id/sections', (ctx) => {
    const category = kb(store.categories, Number(ctx.params[0]));
    const { id, ...fields } = namedKbFields(payload(ctx, 'section'), category.item.source_locale);
    const item: ZdSection = { id, category_id: category.item.id, parent_section_id: null, sorting: 'manual', ...fields };
    keepNamedKb(store.sections, item, 'Section');
    return { status: 201, body: { section: sectionJson(item) } };
  });
  hcRecordRoutes('sections', 'section', store.sections, sectionJson, 'Section');
  hcChildren('sections', store.sections, 'articles', store.articles, (a) => a.section_id, articleJson);
  route('PUT', '/api/v2/help_center/sections/:id', (ctx) => {
    const k = kb(store.sections, Number(ctx.params[0]));
    const input = payload(ctx, 'section');
    if (typeof input.position === 'number') k.item.position = input.position;
    if (input.category_id !== undefined) k.item.category_id = kb(store.categories, Number(input.category_id)).item.id;
    k.item.updated_at = isoOf(nowSec());
    return { body: { section: sectionJson(k.item) } };
  });
  route('DELETE', '/api/v2/help_center/sections/:id', (ctx) => {
    const id = Number(ctx.params[0]);
    kb(store.sections, id);
    store.sections.delete(id);
    for (const [aid, a] of store.articles) if (a.item.section_id === id) store.articles.delete(aid);
    return { status: 204 };
  });
  route('POST', '/api/v2/help_center/sections/:id/articles', (ctx) => {
    const section = kb(store.sections, Number(ctx.params[0]));
    const input = payload(ctx, 'article');
    if (typeof input.title !== 'string' || !input.title.trim()) throw invalid('title', 'Title: cannot be blank', 'BlankValue');
    if (input.permission_group_id === undefined || input.permission_group_id === null) {
      throw invalid('permission_group_id', 'Permission group: is required', 'BlankValue');
    }
    if (input.author_id !== undefined && input.author_id !== null) {
      const author = store.users.get(Number(input.author_id));
      if (!author || author.role === 'end-user') throw invalid('author_id', 'Author: must be an agent');
    }
    const locale = requireLocale(input, section.item.source_locale);
    const now = isoOf(nowSec());
    const item: ZdArticle = {
      id: store.id(),
      section_id: section.item.id,
      author_id: input.author_id === undefined || input.author_id === null ? store.owner.id : Number(input.author_id),
      title: input.title,
      body: typeof input.body === 'string' ? input.body : '',
      locale,
      source_locale: locale,
      draft: input.draft === true,
      promoted: input.promoted === true,
      position: typeof input.position === 'number' ? input.position : 0,
      label_names: Array.isArray(input.label_names) ? (input.label_names as string[]) : [],
      permission_group_id: Number(input.permission_group_id),
      user_segment_id: input.user_segment_id === undefined || input.user_segment_id === null ? null : Number(input.user_segment_id),
      outdated: false,
      comments_disabled: false,
      created_at: now,
      updated_at: now,
      edited_at: now,
    };
    store.articles.set(item.id, {
      item,
      translations: new Map([[locale, store.kbTranslation(item.id, 'Article', locale, item.title, item.body, item.draft, now)]]),
    });
    return { status: 201, body: { article: articleJson(item) } };
  });
  /**
   * Incremental article export ("Understanding incremental article exports"): articles whose metadata
   * changed at or after start_time, up to 1,000 a page, oldest first; end_time is the last one's time and
   * is the start_time of the next page, so the articles of that second come again.
   */
  route('GET', '/api/v2/help_center/incremental/articles', (ctx) => {
    const raw = ctx.query.get('start_time');
    const start = Number(raw);
    if (raw === null || raw === '' || !Number.isFinite(start) || start < 0) throw badRequest('start_time must be an epoch time', 'InvalidValue');
    const sorted = [...store.articles.values()]
      .map((k) => ({ ts: sec(k.item.updated_at), item: k.item }))
      .filter((r) => r.ts >= start)
      .sort((a, b) => a.ts - b.ts || a.item.id - b.item.id);
    const page = sorted.slice(0, 1000);
    const endTime = page.length > 0 ? page[page.length - 1].ts : Math.floor(start);
    const more = sorted.length > page.length;
    return {
      body: {
        articles: page.map((r) => articleJson(r.item)),
        count: page.length,
        end_time: endTime,
        next_page: more ? `${store.baseUrl}/api/v2/help_center/incremental/articles.json?start_time=${endTime}` : null,
        end_of_stream: !more,
      },
    };
  });
  hcRecordRoutes('articles', 'article', store.articles, articleJson, 'Article');
  hcTranslationList('articles', store.articles);
  route('PUT', '/api/v2/help_center/articles/:id', (ctx) => {
    const k = kb(store.articles, Number(ctx.params[0]));
    const input = payload(ctx, 'article');
    if (input.section_id !== undefined) k.item.section_id = kb(store.sections, Number(input.section_id)).item.id;
    if (input.author_id !== undefined && input.author_id !== null) {
      const author = store.users.get(Number(input.author_id));
      if (!author || author.role === 'end-user') throw invalid('author_id', 'Author: must be an agent');
      k.item.author_id = author.id;
    }
    if (typeof input.position === 'number') k.item.position = input.position;
    if (Array.isArray(input.label_names)) k.item.label_names = input.label_names as string[];
    if (typeof input.promoted === 'boolean') k.item.promoted = input.promoted;
    k.item.updated_at = isoOf(nowSec());
    return { body: { article: articleJson(k.item) } };
  });
  route('DELETE', '/api/v2/help_center/articles/:id', (ctx) => {
    const id = Number(ctx.params[0]);
    kb(store.articles, id);
    store.articles.delete(id);
    return { status: 204 };
  });
  route('POST', '/api/v2/help_center/articles/:id/translations', (ctx) => {
    const input = payload(ctx, 'translation');
    if (typeof input.locale !== 'string' || !input.locale) throw invalid('locale', 'Locale: cannot be blank', 'BlankValue');
    const t = putTranslation(kb(store.articles, Number(ctx.params[0])), 'Article', input.locale, input, true);
    return { status: 201, body: { translation: translationJson(t) } };
  });
  route('DELETE', '/api/v2/help_center/articles/:id/translations/:loc', (ctx) => {
    const k = kb(store.articles, Number(ctx.params[0]));
    if (ctx.params[1] === k.item.source_locale) throw invalid('locale', 'Locale: the source locale cannot be deleted');
    if (!k.translations.delete(ctx.params[1])) throw notFound();
    return { status: 204 };
  });

  // ---------------------------------------------------------------------------------------------
  // Test controls

  const firstEndUser = () => {
    for (const u of store.users.values()) if (u.role === 'end-user' && u.active) return u.id;
    return store.owner.id;
  };
  const controls = {
    createTicket(input: Record<string, unknown> = {}): ZdTicket {
      const full = {
        subject: 'Sandbox ticket',
        requester_id: firstEndUser(),
        comment: { body: 'Created by a sandbox control', public: true },
        ...input,
      };
      return store.ticketJson(store.createTicket(full));
    },
    updateTicket(id: number, changes: Record<string, unknown>): ZdTicket {
      return store.ticketJson(store.updateTicket(id, changes).ticket);
    },
    addComment(ticketId: number, comment: Record<string, unknown>): ZdComment {
      const { comment: added } = store.updateTicket(ticketId, { comment });
      return store.commentJson(added!);
    },
    deleteTicket(id: number): void {
      store.deleteTicket(id);
    },
    touch(entity: TouchEntity, countOrIds: number | number[], updatedAt: string | Date): number[] {
      const at = sec(updatedAt);
      if (!Number.isFinite(at)) throw badRequest('updated_at is invalid');
      const only = Array.isArray(countOrIds) ? new Set(countOrIds) : null;
      const count: number = Array.isArray(countOrIds) ? new Set(countOrIds).size : countOrIds;
      const wanted = (id: number) => !only || only.has(id);
      const ids: number[] = [];
      if (entity === 'ticket') {
        const all = (only ? [...only] : [...store.ticketsByTime().ids]).sort((a, b) => a - b);
        for (const id of all) {
          if (ids.length >= count) break;
          if (!store.ticket(id)) continue;
          store.touchTicket(store.materialize(id), at);
          ids.push(id);
        }
      } else if (entity === 'organization') {
        for (const o of [...store.organizations.values()].sort((a, b) => a.id - b.id)) {
          if (ids.length >= count) break;
          if (o.deleted_at || !wanted(o.id)) continue;
          store.putOrganization({ ...o, updated_at: isoOf(at) });
          ids.push(o.id);
        }
      } else {
        for (const u of [...store.users.values()].sort((a, b) => a.id - b.id)) {
          if (ids.length >= count) break;
          if (!wanted(u.id)) continue;
          store.putUser({ ...u, updated_at: isoOf(at) });
          ids.push(u.id);
        }
      }
      return ids;
    },
    injectFaults(spec: FaultSpec): void {
      kit.faults.push(spec);
    },
  };

  const control = async (ctx: Ctx): Promise<Reply> => {
    const [, , what, id, sub] = ctx.path.split('/');
    if (ctx.method === 'GET' && what === 'state') {
      return { body: { counts: store.counts(), requests_served: kit.served(), requests_by_route: Object.fromEntries(kit.servedByPath()), limit_stats: limiter.stats(), url: store.baseUrl } };
    }
    if (ctx.method === 'POST' && what === 'tickets' && !id) return { status: 201, body: { ticket: controls.createTicket(ctx.body) } };
    if (ctx.method === 'PUT' && what === 'tickets' && id && !sub) return { body: { ticket: controls.updateTicket(Number(id), ctx.body) } };
    if (ctx.method === 'DELETE' && what === 'tickets' && id) {
      controls.deleteTicket(Number(id));
      return { status: 204 };
    }
    if (ctx.method === 'POST' && what === 'tickets' && id && sub === 'comments') return { status: 201, body: { comment: controls.addComment(Number(id), ctx.body) } };
    if (ctx.method === 'POST' && what === 'touch') {
      const entity = String(ctx.body.entity ?? 'ticket') as TouchEntity;
      if (!['ticket', 'organization', 'user'].includes(entity)) throw badRequest('entity must be ticket, organization or user');
      const target = Array.isArray(ctx.body.ids) ? (ctx.body.ids as unknown[]).map(Number) : Number(ctx.body.count ?? 0);
      return { body: { ids: controls.touch(entity, target, String(ctx.body.updated_at ?? ctx.body.updatedAt)) } };
    }
    if (ctx.method === 'POST' && what === 'faults') {
      controls.injectFaults({ status: Number(ctx.body.status ?? 500), count: Number(ctx.body.count ?? 1), retryAfterSeconds: ctx.body.retry_after as number | undefined });
      return { body: { pending: kit.faults.pending() } };
    }
    throw notFound();
  };

  // ---------------------------------------------------------------------------------------------
  // The server

  const DOWNLOADS = '/attachments/token/';
  route('*', `${DOWNLOADS}:rest`, (ctx) => {
    const a = store.attachmentByToken(ctx.path.split('/')[3] ?? '');
    if (!a) throw notFound();
    return {
      bytes: store.attachmentBytes(a),
      headers: { 'content-type': a.content_type, 'content-disposition': `attachment; filename="${encodeURIComponent(a.file_name)}"` },
    };
  });
  type JobOf = { id?: string; status?: string };
  /** The job statuses an answer carries: one (`job_status`) or several ("Show Many Job Statuses"). */
  const jobsOf = (reply: Reply): JobOf[] => {
    const body = reply.body as { job_status?: JobOf; job_statuses?: JobOf[] } | undefined;
    return [...(body?.job_status ? [body.job_status] : []), ...(Array.isArray(body?.job_statuses) ? body.job_statuses : [])];
  };

  const zendeskContext = (base: KitRequest, raw: Buffer): Ctx => {
    let body: Record<string, unknown> = {};
    if (raw.length > 0 && String(base.req.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new HttpError(400, { error: 'InvalidJSON', description: 'The request body is not valid JSON' });
      }
    }
    return { ...base, body, raw, headers: base.req.headers, params: [] };
  };

  kit = await startKitServer<Ctx>(
    {
      routes,
      limiter: () => limiter,
      // Help Center paths may name a locale (`/help_center/en-us/articles`); the sandbox serves every locale from one place.
      normalizePath: (pathname) =>
        pathname
          .replace(/\.json$/, '')
          .replace(/\/+$/, '')
          .replace(/^\/api\/v2\/help_center\/[a-z]{2}(?:-[a-z0-9]{2,4})?\/(articles|sections|categories)(?=\/|$)/i, '/api/v2/help_center/$1') || '/',
      context: (base) => {
        const raw = readRaw(base.req);
        return raw instanceof Promise ? raw.then((r) => zendeskContext(base, r)) : zendeskContext(base, raw);
      },
      control: { prefix: '/__sandbox/', handle: control },
      faultBody: (status, ctx) => (status === 429 ? rateLimitedBody(ctx.path) : { error: 'InternalError', description: 'Sandbox fault injected for a test' }),
      unlimited: (ctx) => ctx.path.startsWith(DOWNLOADS),
      guard: (ctx) => {
        const auth = ctx.req.headers.authorization;
        if (auth === expectedAuth || (auth === undefined && ctx.path.startsWith(DOWNLOADS))) return undefined;
        return { status: 401, body: { error: "Couldn't authenticate you" }, headers: { 'www-authenticate': 'Basic realm="Web Password"' } };
      },
      noRoute: () => ({ status: 404, body: { error: 'InvalidEndpoint', description: 'Not found' } }),
      internalError: (err) => ({ error: 'InternalError', description: err.message }),
      // A job holds its in-flight slot from the answer that queued it until its status is read as finished.
      jobs: {
        started: (reply) => (reply.body as { job_status?: JobOf } | undefined)?.job_status?.id,
        finished: (reply) => jobsOf(reply).flatMap((job) => (job.id && ['completed', 'failed', 'killed'].includes(String(job.status)) ? [job.id] : [])),
      },
    },
    { port: options.port, host: options.host },
  );
  store.baseUrl = kit.url;

  return {
    platform: 'zendesk',
    url: store.baseUrl,
    credentials: { email, apiToken },
    env: { ZENDESK_EMAIL: email, ZENDESK_API_TOKEN: apiToken },
    store,
    limits,
    limitStats: () => limiter.stats(),
    counts: () => store.counts() as Record<EntityName, number>,
    requestsServed: () => kit.served(),
    requestsByRoute: () => Object.fromEntries(kit.servedByPath()),
    ...controls,
    close: () => kit.close(),
  };
}
