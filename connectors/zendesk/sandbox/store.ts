/**
 * The sandbox's data: an in-memory Zendesk account. Seeded tickets are generated on demand from the
 * fake helpdesk (deterministic by index) and only materialised once something changes them, so a
 * 100k-ticket account costs little memory; written tickets are held compactly (times as epoch seconds).
 */
import { createHash } from 'node:crypto';
import { HttpError as SandboxError } from '../../sdk/sandbox-kit/reply.ts';
import { attachmentContent, fakeHelpdesk, type FakeHelpdesk } from '../../sdk/fake-helpdesk.ts';
import type { Ticket as CanonicalTicket, TicketField as CanonicalField } from '../../../schemas/canonical.ts';
import { tagValue, zendeskFieldType } from '../zendesk.mapping.ts';
import type {
  ZdArticle,
  ZdAttachment,
  ZdCategory,
  ZdComment,
  ZdCustomFieldValue,
  ZdGroup,
  ZdGroupMembership,
  ZdJobStatus,
  ZdOrganization,
  ZdSection,
  ZdTicket,
  ZdTicketField,
  ZdTranslation,
  ZdUser,
} from '../zendesk.types.ts';

export const sec = (iso: string | number | Date): number =>
  typeof iso === 'number' ? iso : Math.floor((iso instanceof Date ? iso.getTime() : Date.parse(iso)) / 1000);
export const isoOf = (s: number): string => new Date(s * 1000).toISOString().replace('.000Z', 'Z');
export const nowSec = (): number => Math.floor(Date.now() / 1000);

export interface StoredAttachment {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
  inline: boolean;
  /** Token in the download URL. */
  token: string;
  /** Bytes of uploaded files; seeded ones are regenerated from their fake metadata. */
  bytes?: Uint8Array;
  seedId?: string;
}

export interface StoredComment {
  id: number;
  author_id: number | null;
  html_body: string;
  public: boolean;
  created_at: number;
  attachments: StoredAttachment[];
}

export interface StoredTicket {
  id: number;
  external_id: string | null;
  subject: string;
  status: string;
  priority: string | null;
  type: string | null;
  requester_id: number | null;
  submitter_id: number | null;
  assignee_id: number | null;
  group_id: number | null;
  organization_id: number | null;
  tags: string[];
  custom_fields: ZdCustomFieldValue[];
  created_at: number;
  updated_at: number;
  /** The export's clock: bumped by every change, system ones included. */
  generated: number;
  comments: StoredComment[];
  /** In the ticket archive: left out of List Tickets, still exported and shown. */
  archived?: boolean;
}

/** Zendesk archives a ticket 120 days after it was closed ("About ticket archiving"). */
export const ARCHIVE_AFTER_SECONDS = 120 * 86_400;

export interface StoredUser extends ZdUser {
  _ts: number;
}
export interface StoredOrganization extends ZdOrganization {
  _ts: number;
}

export interface KbItem<T> {
  item: T;
  translations: Map<string, ZdTranslation>;
}

export { SandboxError };

export const invalid = (field: string, description: string, error = 'InvalidValue'): SandboxError =>
  new SandboxError(422, { error: 'RecordInvalid', description: 'Record validation errors', details: { [field]: [{ description, error }] } });
export const notFound = (): SandboxError => new SandboxError(404, { error: 'RecordNotFound', description: 'Not found' });
export const badRequest = (description: string, error = 'InvalidValue'): SandboxError => new SandboxError(400, { error, description });

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const ZD_COMMENT = (html: string) => `<div class="zd-comment" dir="auto">${html}</div>`;
const TIME_ZONES: Record<string, string> = {
  'Europe/Berlin': 'Berlin',
  'America/New_York': 'Eastern Time (US & Canada)',
  'Asia/Tokyo': 'Tokyo',
  UTC: 'UTC',
  'Etc/UTC': 'UTC',
  'Europe/London': 'London',
  'America/Los_Angeles': 'Pacific Time (US & Canada)',
};
const IANA_BY_NAME = Object.fromEntries(Object.entries(TIME_ZONES).map(([k, v]) => [v, k]));

function guessContentType(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  return (
    { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', pdf: 'application/pdf', txt: 'text/plain', log: 'text/plain' }[ext] ??
    'application/octet-stream'
  );
}

function plainText(html: string): string {
  return html
    .replace(/<(br|\/p|\/div|\/li)\s*\/?>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

export interface StoreOptions {
  seed: number;
  tickets: number;
  articles: number;
  maxComments: number;
}

/** An LRU of generated seeded tickets, so an export page and the comment requests that follow it generate each ticket once. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
}

export class ZendeskStore {
  baseUrl = '';
  readonly owner: StoredUser;
  readonly users = new Map<number, StoredUser>();
  readonly organizations = new Map<number, StoredOrganization>();
  readonly groups = new Map<number, ZdGroup>();
  readonly memberships = new Map<number, ZdGroupMembership>();
  readonly ticketFields = new Map<number, ZdTicketField>();
  readonly categories = new Map<number, KbItem<ZdCategory>>();
  readonly sections = new Map<number, KbItem<ZdSection>>();
  readonly articles = new Map<number, KbItem<ZdArticle>>();
  readonly jobs = new Map<string, ZdJobStatus>();
  /** Upload token → attachments waiting for a comment. */
  readonly uploads = new Map<string, StoredAttachment[]>();
  /** Download token → uploaded attachment. */
  readonly downloads = new Map<string, StoredAttachment>();
  readonly permissionGroupId = 1_000_001;

  private readonly fake: FakeHelpdesk | null;
  private readonly seededTickets: number;
  /** Export clock of seeded ticket i is seedBase + i: seeded tickets were last touched in id order. */
  private readonly seedBase: number;
  /** Materialised tickets (changed seeded ones and written ones). Deleted ones stay as tombstones. */
  private readonly overlay = new Map<number, StoredTicket>();
  private readonly deletedTickets = new Set<number>();
  private readonly cache = new Lru<number, StoredTicket>(4096);
  private nextTicketId: number;
  private nextId = 50_000_000;
  private nextCommentId = 1_000_000_000_000;
  private ticketOrder: { ids: Int32Array | Float64Array; ts: Float64Array } | null = null;
  private userOrder: StoredUser[] | null = null;
  private seedFieldByKey = new Map<string, ZdTicketField>();

  constructor(readonly options: StoreOptions) {
    const seeded = options.tickets > 0;
    this.fake = seeded
      ? fakeHelpdesk({ seed: options.seed, tickets: options.tickets, articles: options.articles, maxComments: options.maxComments })
      : null;
    this.seededTickets = seeded ? options.tickets : 0;
    this.nextTicketId = this.seededTickets + 1;
    const fakeNow = sec('2026-06-01T00:00:00Z');
    this.seedBase = Math.min(fakeNow, nowSec() - 120 - this.seededTickets);
    this.seedSystemFields();
    if (this.fake) {
      this.seed(this.fake);
      this.owner = this.users.get(Number(this.fake.agents[0].sourceId))!;
    } else {
      const created = isoOf(this.seedBase - 86_400 * 365);
      this.owner = this.putUser({
        id: 1,
        name: 'Account Owner',
        email: `owner+${options.seed}@sandbox.zendesk.test`,
        phone: null,
        role: 'admin',
        role_type: 4,
        active: true,
        suspended: false,
        verified: true,
        organization_id: null,
        default_group_id: null,
        external_id: null,
        tags: [],
        time_zone: 'UTC',
        iana_time_zone: 'UTC',
        user_fields: {},
        created_at: created,
        updated_at: created,
      });
    }
  }

  id(): number {
    return this.nextId++;
  }

  // -------------------------------------------------------------------------------------------
  // Seeding

  private seedSystemFields(): void {
    const at = isoOf(this.seedBase - 86_400 * 1000);
    const system: [number, ZdTicketField['type'], string][] = [
      [11, 'subject', 'Subject'],
      [12, 'description', 'Description'],
      [13, 'status', 'Status'],
      [14, 'tickettype', 'Type'],
      [15, 'priority', 'Priority'],
      [16, 'group', 'Group'],
      [17, 'assignee', 'Assignee'],
    ];
    system.forEach(([id, type, title], i) =>
      this.ticketFields.set(id, {
        id,
        type,
        title,
        raw_title: title,
        description: '',
        position: i,
        active: true,
        required: false,
        removable: false,
        regexp_for_validation: null,
        created_at: at,
        updated_at: at,
      }),
    );
  }

  private seed(fake: FakeHelpdesk): void {
    for (const g of fake.groups) {
      this.groups.set(Number(g.sourceId), {
        id: Number(g.sourceId),
        name: g.name,
        description: g.description ?? '',
        default: g.sourceId === '1',
        deleted: false,
        is_public: true,
        created_at: isoOf(sec(g.createdAt)),
        updated_at: isoOf(sec(g.updatedAt)),
      });
    }
    for (const o of fake.organizations) {
      this.putOrganization({
        id: Number(o.sourceId),
        name: o.name,
        domain_names: o.domains,
        notes: o.notes ?? '',
        details: '',
        tags: o.tags,
        external_id: null,
        organization_fields: {},
        created_at: isoOf(sec(o.createdAt)),
        updated_at: isoOf(sec(o.updatedAt)),
        deleted_at: null,
      });
    }
    for (const a of fake.agents) {
      const id = Number(a.sourceId);
      this.putUser({
        id,
        name: a.name,
        email: a.email,
        phone: null,
        role: a.role === 'admin' ? 'admin' : 'agent',
        role_type: a.role === 'admin' ? 4 : a.role === 'light' ? 1 : null,
        active: !a.deleted,
        suspended: !a.active && !a.deleted,
        verified: true,
        organization_id: null,
        default_group_id: a.groupIds.length > 0 ? Number(a.groupIds[0]) : null,
        external_id: null,
        tags: [],
        time_zone: a.timeZone ? (TIME_ZONES[a.timeZone] ?? a.timeZone) : null,
        iana_time_zone: a.timeZone,
        user_fields: {},
        created_at: isoOf(sec(a.createdAt)),
        updated_at: isoOf(sec(a.updatedAt)),
      });
      a.groupIds.forEach((g, i) => {
        const mid = this.id();
        this.memberships.set(mid, {
          id: mid,
          user_id: id,
          group_id: Number(g),
          default: i === 0,
          created_at: isoOf(sec(a.createdAt)),
          updated_at: isoOf(sec(a.createdAt)),
        });
      });
    }
    for (const c of fake.contacts) {
      this.putUser({
        id: Number(c.sourceId),
        name: c.name,
        email: c.email,
        phone: c.phone,
        role: 'end-user',
        role_type: null,
        active: true,
        suspended: false,
        verified: true,
        organization_id: c.organizationId === null ? null : Number(c.organizationId),
        default_group_id: null,
        external_id: null,
        tags: c.tags,
        time_zone: null,
        iana_time_zone: null,
        user_fields: {},
        created_at: isoOf(sec(c.createdAt)),
        updated_at: isoOf(sec(c.updatedAt)),
      });
    }
    fake.ticketFields.forEach((f, i) => {
      const field = this.seedField(f, i);
      this.ticketFields.set(field.id, field);
      this.seedFieldByKey.set(f.key, field);
    });
    for (const c of fake.kbCategories) {
      const item: ZdCategory = {
        id: Number(c.sourceId),
        name: c.name,
        description: c.description ?? '',
        locale: c.locale,
        source_locale: c.locale,
        position: c.position,
        outdated: false,
        created_at: isoOf(sec(c.createdAt)),
        updated_at: isoOf(sec(c.updatedAt)),
      };
      this.categories.set(item.id, { item, translations: new Map([[c.locale, this.kbTranslation(item.id, 'Category', c.locale, c.name, item.description, false, item.updated_at)]]) });
    }
    for (const s of fake.kbSections) {
      const item: ZdSection = {
        id: Number(s.sourceId),
        category_id: Number(s.categoryId),
        parent_section_id: null,
        sorting: 'manual',
        name: s.name,
        description: s.description ?? '',
        locale: s.locale,
        source_locale: s.locale,
        position: s.position,
        outdated: false,
        created_at: isoOf(sec(s.createdAt)),
        updated_at: isoOf(sec(s.updatedAt)),
      };
      this.sections.set(item.id, { item, translations: new Map([[s.locale, this.kbTranslation(item.id, 'Section', s.locale, s.name, item.description, false, item.updated_at)]]) });
    }
    for (const a of fake.kbArticles) {
      const item: ZdArticle = {
        id: Number(a.sourceId),
        section_id: Number(a.sectionId),
        author_id: a.authorId === null ? null : Number(a.authorId),
        title: a.title,
        body: a.body,
        locale: a.locale,
        source_locale: a.locale,
        draft: a.draft,
        promoted: false,
        position: a.position,
        label_names: a.tags,
        permission_group_id: this.permissionGroupId,
        user_segment_id: null,
        outdated: false,
        comments_disabled: false,
        created_at: isoOf(sec(a.createdAt)),
        updated_at: isoOf(sec(a.updatedAt)),
        edited_at: isoOf(sec(a.updatedAt)),
      };
      const translations = new Map<string, ZdTranslation>();
      translations.set(a.locale, this.kbTranslation(item.id, 'Article', a.locale, a.title, a.body, a.draft, item.updated_at));
      for (const t of a.translations) translations.set(t.locale, this.kbTranslation(item.id, 'Article', t.locale, t.title, t.body, t.draft, isoOf(sec(t.updatedAt))));
      this.articles.set(item.id, { item, translations });
    }
  }

  private seedField(f: CanonicalField, position: number): ZdTicketField {
    const field: ZdTicketField = {
      id: Number(f.sourceId),
      type: zendeskFieldType(f.type),
      title: f.title,
      raw_title: f.title,
      description: '',
      position: 100 + position,
      active: f.active,
      required: f.required,
      removable: true,
      tag: null,
      regexp_for_validation: f.type === 'regex' ? f.pattern : null,
      created_at: isoOf(sec(f.createdAt)),
      updated_at: isoOf(sec(f.updatedAt)),
    };
    if (f.type === 'dropdown' || f.type === 'multiselect') {
      field.custom_field_options = f.options.map((o) => ({ id: this.id(), name: o.label, raw_name: o.label, value: o.value, default: false }));
    }
    return field;
  }

  kbTranslation(sourceId: number, type: ZdTranslation['source_type'], locale: string, title: string, body: string, draft: boolean, at: string): ZdTranslation {
    return {
      id: this.id(),
      source_id: sourceId,
      source_type: type,
      locale,
      title,
      body,
      draft,
      outdated: false,
      hidden: false,
      created_at: at,
      updated_at: at,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Users and organizations

  private readonly userByEmail = new Map<string, number>();
  private readonly userByExternal = new Map<string, number>();
  private readonly orgByName = new Map<string, number>();
  private readonly orgsByExternal = new Map<string, Set<number>>();
  private readonly ticketsByExternal = new Map<string, Set<number>>();

  private static unindex<K>(map: Map<K, number>, key: K | null | undefined, id: number): void {
    if (key !== null && key !== undefined && map.get(key) === id) map.delete(key);
  }

  private static addTo<K>(map: Map<K, Set<number>>, key: K | null | undefined, id: number): void {
    if (key === null || key === undefined || key === '') return;
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(id);
  }

  private static removeFrom<K>(map: Map<K, Set<number>>, key: K | null | undefined, id: number): void {
    if (key === null || key === undefined) return;
    const set = map.get(key);
    set?.delete(id);
    if (set && set.size === 0) map.delete(key);
  }

  putUser(user: ZdUser): StoredUser {
    const stored = user as StoredUser;
    stored._ts = sec(user.updated_at);
    const prior = this.users.get(user.id);
    if (prior) {
      ZendeskStore.unindex(this.userByEmail, prior.email?.toLowerCase(), prior.id);
      ZendeskStore.unindex(this.userByExternal, prior.external_id, prior.id);
    }
    if (stored.email) this.userByEmail.set(stored.email.toLowerCase(), stored.id);
    if (stored.external_id) this.userByExternal.set(stored.external_id, stored.id);
    this.users.set(user.id, stored);
    this.userOrder = null;
    return stored;
  }

  putOrganization(org: ZdOrganization): StoredOrganization {
    const stored = org as StoredOrganization;
    stored._ts = sec(org.updated_at);
    const prior = this.organizations.get(org.id);
    if (prior) {
      ZendeskStore.unindex(this.orgByName, prior.name.toLowerCase(), prior.id);
      ZendeskStore.removeFrom(this.orgsByExternal, prior.external_id, prior.id);
    }
    if (!stored.deleted_at) {
      this.orgByName.set(stored.name.toLowerCase(), stored.id);
      ZendeskStore.addTo(this.orgsByExternal, stored.external_id, stored.id);
    }
    this.organizations.set(org.id, stored);
    return stored;
  }

  removeUser(id: number): void {
    const prior = this.users.get(id);
    if (!prior) return;
    ZendeskStore.unindex(this.userByEmail, prior.email?.toLowerCase(), prior.id);
    ZendeskStore.unindex(this.userByExternal, prior.external_id, prior.id);
    this.users.delete(id);
    this.userOrder = null;
  }

  userByExternalId(externalId: string): StoredUser | undefined {
    const id = this.userByExternal.get(externalId);
    return id === undefined ? undefined : this.users.get(id);
  }

  organizationsByExternalId(externalId: string): StoredOrganization[] {
    return [...(this.orgsByExternal.get(externalId) ?? [])].map((id) => this.organizations.get(id)!).filter((o) => !o.deleted_at);
  }

  organizationByName(name: string): StoredOrganization | undefined {
    const id = this.orgByName.get(name.toLowerCase());
    const o = id === undefined ? undefined : this.organizations.get(id);
    return o && !o.deleted_at ? o : undefined;
  }

  ticketsByExternalId(externalId: string): StoredTicket[] {
    return [...(this.ticketsByExternal.get(externalId) ?? [])].flatMap((id) => {
      const t = this.ticket(id);
      return t && t.external_id === externalId && !t.archived ? [t] : [];
    });
  }

  /** Users in export order (updated_at, id). */
  usersByTime(): StoredUser[] {
    if (!this.userOrder) this.userOrder = [...this.users.values()].sort((a, b) => a._ts - b._ts || a.id - b.id);
    return this.userOrder;
  }

  userJson(u: StoredUser): ZdUser {
    const { _ts, ...rest } = u;
    void _ts;
    return { ...rest, url: `${this.baseUrl}/api/v2/users/${u.id}.json` };
  }

  orgJson(o: StoredOrganization): ZdOrganization {
    const { _ts, ...rest } = o;
    void _ts;
    return { ...rest, url: `${this.baseUrl}/api/v2/organizations/${o.id}.json` };
  }

  findUserByEmail(email: string): StoredUser | undefined {
    const id = this.userByEmail.get(email.toLowerCase());
    return id === undefined ? undefined : this.users.get(id);
  }

  validateUser(input: Record<string, unknown>, existing: StoredUser | null): void {
    const name = input.name ?? existing?.name;
    if (typeof name !== 'string' || name.trim() === '') throw invalid('name', 'Name: cannot be blank', 'BlankValue');
    const email = input.email;
    if (email !== undefined && email !== null && email !== '') {
      if (typeof email !== 'string' || !EMAIL.test(email)) throw invalid('email', `Email: ${String(email)} is not properly formatted`, 'InvalidFormat');
      const other = this.findUserByEmail(email);
      if (other && other.id !== existing?.id) throw invalid('email', `Email: ${email} is already being used by another user`, 'DuplicateValue');
    }
    if (input.external_id) {
      const other = this.userByExternalId(String(input.external_id));
      if (other && other.id !== existing?.id) throw invalid('external_id', 'External: has already been taken', 'DuplicateValue');
    }
    if (input.role !== undefined && !['end-user', 'agent', 'admin'].includes(String(input.role))) throw invalid('role', 'Role: is invalid');
    if (input.organization_id !== undefined && input.organization_id !== null && !this.organizations.has(Number(input.organization_id))) {
      throw invalid('organization_id', 'Organization: is invalid');
    }
  }

  applyUser(input: Record<string, unknown>, existing: StoredUser | null): StoredUser {
    this.validateUser(input, existing);
    const now = isoOf(nowSec());
    const tz = typeof input.time_zone === 'string' ? input.time_zone : undefined;
    const base: ZdUser = existing
      ? { ...existing }
      : {
          id: this.id(),
          name: '',
          email: null,
          phone: null,
          role: 'end-user',
          role_type: null,
          active: true,
          suspended: false,
          verified: false,
          organization_id: null,
          default_group_id: null,
          external_id: null,
          tags: [],
          time_zone: null,
          iana_time_zone: null,
          user_fields: {},
          created_at: now,
          updated_at: now,
        };
    const pick = <K extends keyof ZdUser>(key: K) => {
      if (input[key] !== undefined) (base as unknown as Record<string, unknown>)[key] = input[key];
    };
    (['name', 'email', 'phone', 'role', 'suspended', 'verified', 'organization_id', 'external_id', 'tags'] as const).forEach(pick);
    if (input.user_fields && typeof input.user_fields === 'object') base.user_fields = { ...base.user_fields, ...(input.user_fields as object) };
    if (tz !== undefined) {
      base.iana_time_zone = IANA_BY_NAME[tz] ?? tz;
      base.time_zone = TIME_ZONES[tz] ?? tz;
    }
    if (base.role === 'admin') base.role_type = 4;
    else if (base.role === 'end-user') base.role_type = null;
    if (Array.isArray(base.tags)) base.tags = [...new Set(base.tags.map((t) => tagValue(String(t))))];
    base.updated_at = now;
    if (existing && existing.updated_at === now) base.updated_at = now;
    return this.putUser(base);
  }

  validateOrganization(input: Record<string, unknown>, existing: StoredOrganization | null): void {
    const name = input.name ?? existing?.name;
    if (typeof name !== 'string' || name.trim() === '') throw invalid('name', 'Name: cannot be blank', 'BlankValue');
    const other = this.organizationByName(name);
    if (other && other.id !== existing?.id) throw invalid('name', 'Name: has already been taken', 'DuplicateValue');
  }

  applyOrganization(input: Record<string, unknown>, existing: StoredOrganization | null): StoredOrganization {
    this.validateOrganization(input, existing);
    const now = isoOf(nowSec());
    const base: ZdOrganization = existing
      ? { ...existing }
      : {
          id: this.id(),
          name: '',
          domain_names: [],
          notes: '',
          details: '',
          tags: [],
          external_id: null,
          organization_fields: {},
          created_at: now,
          updated_at: now,
          deleted_at: null,
        };
    for (const key of ['name', 'domain_names', 'notes', 'details', 'tags', 'external_id'] as const) {
      if (input[key] !== undefined) (base as unknown as Record<string, unknown>)[key] = input[key];
    }
    if (input.organization_fields && typeof input.organization_fields === 'object') {
      base.organization_fields = { ...base.organization_fields, ...(input.organization_fields as object) };
    }
    base.tags = [...new Set((base.tags ?? []).map((t) => tagValue(String(t))))];
    base.updated_at = now;
    return this.putOrganization(base);
  }

  // -------------------------------------------------------------------------------------------
  // Tickets

  get ticketCount(): number {
    let n = this.seededTickets;
    for (const id of this.overlay.keys()) if (id > this.seededTickets) n += 1;
    return n - this.deletedTickets.size;
  }

  isSeeded(id: number): boolean {
    return id >= 1 && id <= this.seededTickets;
  }

  /** The stored ticket, or undefined; deleted ones only with `withDeleted`. */
  ticket(id: number, withDeleted = false): StoredTicket | undefined {
    if (!withDeleted && this.deletedTickets.has(id)) return undefined;
    const own = this.overlay.get(id);
    if (own) return own;
    if (!this.isSeeded(id)) return undefined;
    const cached = this.cache.get(id);
    if (cached) return cached;
    const generated = this.fromFake(this.fake!.ticket(id - 1), this.seedBase + id - 1);
    this.cache.set(id, generated);
    return generated;
  }

  /** A ticket about to change: from now on it lives in the overlay. */
  materialize(id: number): StoredTicket {
    const t = this.ticket(id);
    if (!t) throw notFound();
    if (!this.overlay.has(id)) {
      this.overlay.set(id, t);
      this.cache.delete(id);
    }
    return t;
  }

  touchTicket(t: StoredTicket, at = nowSec()): void {
    t.updated_at = at;
    t.generated = at;
    this.ticketOrder = null;
  }

  private seedToken(ticketId: number, attachmentId: number): string {
    return `s${ticketId}x${attachmentId}`;
  }

  contentUrl(a: StoredAttachment): string {
    return `${this.baseUrl}/attachments/token/${a.token}/?name=${encodeURIComponent(a.file_name)}`;
  }

  private fromFake(t: CanonicalTicket, generated: number): StoredTicket {
    const id = Number(t.sourceId);
    const implied: string[] = [];
    const custom: ZdCustomFieldValue[] = [];
    for (const [key, value] of Object.entries(t.customFields)) {
      const field = this.seedFieldByKey.get(key);
      if (!field) continue;
      let v: ZdCustomFieldValue['value'] = value;
      const tagOf = (label: string) => field.custom_field_options?.find((o) => o.name === label)?.value ?? tagValue(label);
      if (value !== null) {
        if (field.type === 'tagger') {
          v = tagOf(String(value));
          implied.push(v);
        } else if (field.type === 'multiselect') {
          v = (value as string[]).map(tagOf);
          implied.push(...v);
        } else if (field.type === 'integer' || field.type === 'decimal') v = String(value);
      }
      custom.push({ id: field.id, value: v });
    }
    const comments: StoredComment[] = t.comments.map((c) => {
      const attachments: StoredAttachment[] = c.attachments.map((a) => ({
        id: Number(a.sourceId),
        file_name: a.fileName,
        content_type: a.contentType,
        size: a.size,
        inline: a.inline,
        token: this.seedToken(id, Number(a.sourceId)),
        seedId: a.sourceId,
      }));
      let body = c.body;
      for (const a of attachments) if (a.inline) body = body.split(`inline:${a.id}`).join(this.contentUrl(a));
      return {
        id: Number(c.sourceId),
        author_id: c.authorId === null ? null : Number(c.authorId),
        html_body: ZD_COMMENT(body),
        public: c.public,
        created_at: sec(c.createdAt),
        attachments,
      };
    });
    return {
      id,
      external_id: null,
      subject: t.subject,
      status: t.status,
      priority: t.priority,
      type: t.type,
      requester_id: t.requesterId === null ? null : Number(t.requesterId),
      submitter_id: t.requesterId === null ? null : Number(t.requesterId),
      assignee_id: t.assigneeId === null ? null : Number(t.assigneeId),
      group_id: t.groupId === null ? null : Number(t.groupId),
      organization_id: t.organizationId === null ? null : Number(t.organizationId),
      tags: [...new Set([...t.tags, ...implied])],
      custom_fields: custom,
      created_at: sec(t.createdAt),
      updated_at: sec(t.updatedAt),
      generated,
      comments,
      archived: t.status === 'closed' && sec(t.updatedAt) < nowSec() - ARCHIVE_AFTER_SECONDS,
    };
  }

  ticketJson(t: StoredTicket): ZdTicket {
    const first = t.comments[0];
    return {
      id: t.id,
      url: `${this.baseUrl}/api/v2/tickets/${t.id}.json`,
      external_id: t.external_id,
      subject: t.subject,
      raw_subject: t.subject,
      description: first ? plainText(first.html_body) : '',
      status: this.deletedTickets.has(t.id) ? 'deleted' : t.status,
      priority: t.priority,
      type: t.type,
      requester_id: t.requester_id,
      submitter_id: t.submitter_id,
      assignee_id: t.assignee_id,
      group_id: t.group_id,
      organization_id: t.organization_id,
      tags: t.tags,
      custom_fields: this.allCustomFields(t.custom_fields),
      fields: this.allCustomFields(t.custom_fields),
      created_at: isoOf(t.created_at),
      updated_at: isoOf(t.updated_at),
      generated_timestamp: t.generated,
      via: { channel: 'api', source: { from: {}, to: {}, rel: null } },
    };
  }

  /** Zendesk lists every custom field on a ticket, null where unset. */
  private allCustomFields(values: ZdCustomFieldValue[]): ZdCustomFieldValue[] {
    const given = new Map(values.map((v) => [v.id, v.value]));
    const out: ZdCustomFieldValue[] = [];
    for (const f of this.ticketFields.values()) if (f.removable) out.push({ id: f.id, value: given.get(f.id) ?? null });
    return out;
  }

  attachmentJson(a: StoredAttachment): ZdAttachment {
    const content_url = this.contentUrl(a);
    return {
      id: a.id,
      url: `${this.baseUrl}/api/v2/attachments/${a.id}.json`,
      file_name: a.file_name,
      content_url,
      mapped_content_url: content_url,
      content_type: a.content_type,
      size: a.size,
      inline: a.inline,
      deleted: false,
      thumbnails: [],
    };
  }

  commentJson(c: StoredComment): ZdComment {
    const plain = plainText(c.html_body);
    return {
      id: c.id,
      type: 'Comment',
      author_id: c.author_id,
      body: plain,
      html_body: c.html_body,
      plain_body: plain,
      public: c.public,
      audit_id: c.id + 1,
      attachments: c.attachments.map((a) => this.attachmentJson(a)),
      via: { channel: 'api', source: { from: {}, to: {}, rel: null } },
      metadata: { system: {}, custom: {} },
      created_at: isoOf(c.created_at),
    };
  }

  /** Tickets in export order (generated_timestamp, id), deleted ones included. */
  ticketsByTime(): { ids: Int32Array | Float64Array; ts: Float64Array } {
    if (this.ticketOrder) return this.ticketOrder;
    const n = this.seededTickets + [...this.overlay.keys()].filter((id) => !this.isSeeded(id)).length;
    const ids = new Float64Array(n);
    const ts = new Float64Array(n);
    let k = 0;
    for (let id = 1; id <= this.seededTickets; id++) {
      const own = this.overlay.get(id);
      ids[k] = id;
      ts[k] = own ? own.generated : this.seedBase + id - 1;
      k += 1;
    }
    for (const [id, t] of this.overlay) {
      if (this.isSeeded(id)) continue;
      ids[k] = id;
      ts[k] = t.generated;
      k += 1;
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ts[a] - ts[b] || ids[a] - ids[b]);
    const sortedIds = new Float64Array(n);
    const sortedTs = new Float64Array(n);
    order.forEach((from, to) => {
      sortedIds[to] = ids[from];
      sortedTs[to] = ts[from];
    });
    this.ticketOrder = { ids: sortedIds, ts: sortedTs };
    return this.ticketOrder;
  }

  deleteTicket(id: number): void {
    const t = this.materialize(id);
    this.deletedTickets.add(id);
    this.touchTicket(t);
  }

  /** Soft-deleted tickets, oldest deletion first (a deleted ticket keeps its deletion time as updated_at). */
  deletedTicketList(): StoredTicket[] {
    return [...this.deletedTickets].map((id) => this.ticket(id, true)!).sort((a, b) => a.updated_at - b.updated_at || a.id - b.id);
  }

  /**
   * An attachment by ID: an upload, or a generated one, whose ID starts with its ticket's
   * (`{ticket}{comment:3}{n}`, see fake-helpdesk).
   */
  attachmentById(id: number): StoredAttachment | undefined {
    for (const a of this.downloads.values()) if (a.id === id) return a;
    const t = this.ticket(Math.floor(id / 10_000), true);
    for (const c of t?.comments ?? []) for (const a of c.attachments) if (a.id === id) return a;
    return undefined;
  }

  validateTicket(input: Record<string, unknown>, existing: StoredTicket | null): void {
    const userField = (key: string, label: string, mustBeAgent: boolean) => {
      const value = input[key];
      if (value === undefined || value === null) return;
      const user = this.users.get(Number(value));
      if (!user || !user.active) throw invalid(key, `${label}: is invalid`);
      if (mustBeAgent && user.role === 'end-user') throw invalid(key, `${label}: ${user.name} is not an agent`);
    };
    if (!existing && (input.requester_id === undefined || input.requester_id === null) && !input.requester) {
      throw invalid('requester', 'Requester: cannot be blank', 'BlankValue');
    }
    userField('requester_id', 'Requester', false);
    userField('assignee_id', 'Assignee', true);
    if (input.group_id !== undefined && input.group_id !== null && !this.groups.has(Number(input.group_id))) throw invalid('group', 'Group: is invalid');
    if (input.organization_id !== undefined && input.organization_id !== null && !this.organizations.has(Number(input.organization_id))) {
      throw invalid('organization_id', 'Organization: is invalid');
    }
    if (input.status !== undefined && !['new', 'open', 'pending', 'hold', 'solved', 'closed'].includes(String(input.status))) {
      throw invalid('status', `Status: ${String(input.status)} is not a valid status`);
    }
    if (input.priority !== undefined && input.priority !== null && !['low', 'normal', 'high', 'urgent'].includes(String(input.priority))) {
      throw invalid('priority', 'Priority: is invalid');
    }
    if (input.type !== undefined && input.type !== null && !['question', 'incident', 'problem', 'task'].includes(String(input.type))) {
      throw invalid('type', 'Type: is invalid');
    }
    if (existing?.status === 'closed') throw invalid('status', 'Status: closed prevents ticket update', 'ClosedTicketUpdate');
    for (const cf of (input.custom_fields ?? []) as ZdCustomFieldValue[]) {
      const field = this.ticketFields.get(Number(cf.id));
      if (!field || !field.removable) throw invalid('custom_fields', `Custom field ${cf.id}: does not exist`);
    }
  }

  /** Applies ticket properties (not comments); tags for dropdown / multi-select / checkbox values are added as Zendesk does. */
  applyTicketProps(t: StoredTicket, input: Record<string, unknown>): void {
    if (input.external_id !== undefined && input.external_id !== t.external_id) {
      ZendeskStore.removeFrom(this.ticketsByExternal, t.external_id, t.id);
      ZendeskStore.addTo(this.ticketsByExternal, input.external_id === null ? null : String(input.external_id), t.id);
    }
    for (const key of ['subject', 'status', 'priority', 'type', 'requester_id', 'assignee_id', 'group_id', 'organization_id', 'external_id'] as const) {
      if (input[key] !== undefined) (t as unknown as Record<string, unknown>)[key] = input[key] === null ? null : input[key];
    }
    if (t.organization_id === null && input.organization_id === undefined && t.requester_id !== null) {
      t.organization_id = this.users.get(t.requester_id)?.organization_id ?? null;
    }
    if (Array.isArray(input.tags)) t.tags = [...new Set((input.tags as unknown[]).map((x) => tagValue(String(x))))];
    if (Array.isArray(input.custom_fields)) {
      const values = new Map(t.custom_fields.map((v) => [v.id, v.value]));
      for (const cf of input.custom_fields as ZdCustomFieldValue[]) {
        const field = this.ticketFields.get(Number(cf.id))!;
        let value = cf.value;
        if (value !== null && (field.type === 'integer' || field.type === 'decimal')) value = String(value);
        if (value !== null && field.type === 'multiselect' && !Array.isArray(value)) value = [String(value)];
        values.set(field.id, value === '' ? null : value);
      }
      t.custom_fields = [...values].map(([id, value]) => ({ id, value }));
    }
    const tags = new Set(t.tags);
    for (const cf of t.custom_fields) {
      const field = this.ticketFields.get(cf.id);
      if (!field || cf.value === null) continue;
      if (field.type === 'tagger') tags.add(String(cf.value));
      if (field.type === 'multiselect' && Array.isArray(cf.value)) cf.value.forEach((v) => tags.add(v));
      if (field.type === 'checkbox' && cf.value === true && field.tag) tags.add(field.tag);
    }
    t.tags = [...tags];
  }

  newTicket(): StoredTicket {
    const id = this.nextTicketId++;
    const now = nowSec();
    const t: StoredTicket = {
      id,
      external_id: null,
      subject: '',
      status: 'new',
      priority: null,
      type: null,
      requester_id: null,
      submitter_id: null,
      assignee_id: null,
      group_id: null,
      organization_id: null,
      tags: [],
      custom_fields: [],
      created_at: now,
      updated_at: now,
      generated: now,
      comments: [],
    };
    return t;
  }

  insertTicket(t: StoredTicket): void {
    this.overlay.set(t.id, t);
    this.ticketOrder = null;
  }

  /** Builds a comment from API input (`body`, `html_body` or `value`), consuming its upload tokens. */
  buildComment(input: Record<string, unknown>, fallbackAuthor: number | null, createdAt: number): StoredComment {
    const html = typeof input.html_body === 'string' ? input.html_body : null;
    const text = typeof input.body === 'string' ? input.body : typeof input.value === 'string' ? input.value : null;
    if (html === null && text === null) throw invalid('comment', 'Comment: cannot be blank', 'BlankValue');
    const body = html ?? `<p>${text!.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`;
    const author = input.author_id === undefined || input.author_id === null ? fallbackAuthor : Number(input.author_id);
    if (author !== null && !this.users.has(author)) throw invalid('author_id', 'Author: is invalid');
    const attachments: StoredAttachment[] = [];
    for (const token of (input.uploads ?? []) as string[]) {
      const pending = this.uploads.get(token);
      if (!pending) throw invalid('uploads', `Upload token ${token}: is invalid or expired`);
      this.uploads.delete(token);
      for (const a of pending) {
        // An uploaded image the comment's HTML shows is an inline image.
        a.inline = body.includes(this.contentUrl(a)) || body.includes(`/attachments/token/${a.token}/`);
        attachments.push(a);
      }
    }
    return {
      id: this.nextCommentId++,
      author_id: author,
      html_body: ZD_COMMENT(body),
      public: input.public !== false,
      created_at: createdAt,
      attachments,
    };
  }

  /** Validates the comments of an import before anything is stored, so a rejected import leaves nothing behind. */
  checkComments(comments: Record<string, unknown>[]): void {
    for (const c of comments) {
      if (typeof c.html_body !== 'string' && typeof c.body !== 'string' && typeof c.value !== 'string') throw invalid('comment', 'Comment: cannot be blank', 'BlankValue');
      if (c.author_id !== undefined && c.author_id !== null && !this.users.has(Number(c.author_id))) throw invalid('author_id', 'Author: is invalid');
      for (const token of (c.uploads ?? []) as string[]) if (!this.uploads.has(token)) throw invalid('uploads', `Upload token ${token}: is invalid or expired`);
      if (c.created_at !== undefined && Number.isNaN(Date.parse(String(c.created_at)))) throw invalid('created_at', 'Created at: is invalid');
    }
  }

  /** The ticket import API: timestamps and comment authors, times and visibility as given. */
  importTicket(input: Record<string, unknown>, archiveImmediately = false): StoredTicket {
    this.validateTicket(input, null);
    const comments = (Array.isArray(input.comments) ? input.comments : []) as Record<string, unknown>[];
    if (comments.length === 0 && typeof input.description !== 'string') throw invalid('description', 'Description: cannot be blank', 'BlankValue');
    this.checkComments(comments);
    // "Ticket Import" → "Comments": a comment's time stamp cannot be before 1970 or in the future.
    for (const c of comments) {
      if (c.created_at === undefined || c.created_at === null) continue;
      const at = sec(String(c.created_at));
      if (at > nowSec() || at < 0) throw invalid('created_at', `Comment created at: ${String(c.created_at)} cannot be ${at < 0 ? 'before 1970' : 'in the future'}`);
    }
    const t = this.newTicket();
    this.applyTicketProps(t, input);
    t.submitter_id = input.submitter_id !== undefined ? Number(input.submitter_id) : t.requester_id;
    const now = nowSec();
    const floor = (v: unknown, fallback: number) => (v === undefined || v === null ? fallback : Math.max(0, Math.min(now, sec(String(v)))));
    t.created_at = floor(input.created_at, now);
    if (comments.length === 0) comments.push({ value: input.description, author_id: t.requester_id, created_at: input.created_at });
    t.comments = comments.map((c) => this.buildComment(c, t.requester_id, floor(c.created_at, t.created_at)));
    t.updated_at = floor(input.updated_at, Math.max(t.created_at, ...t.comments.map((c) => c.created_at)));
    t.generated = now;
    // "Ticket Import" → "Direct to archive": a closed ticket imported so goes straight to the archive.
    t.archived = archiveImmediately && t.status === 'closed';
    this.insertTicket(t);
    return t;
  }

  /**
   * The requester of a ticket made through the Tickets API (Zendesk "Tickets" → "Creating a ticket with
   * a new requester"): an inline `requester: {name, email, locale_id}` names the user with that email,
   * made as an end user when none has it; with neither `requester_id` nor `requester`, the requester is
   * the user making the request.
   */
  resolveRequester(input: Record<string, unknown>, authenticated: StoredUser): Record<string, unknown> {
    if (input.requester_id !== undefined && input.requester_id !== null) return input;
    const inline = input.requester;
    if (inline === undefined || inline === null) return { ...input, requester_id: authenticated.id };
    if (typeof inline !== 'object') throw invalid('requester', 'Requester: is invalid');
    const { name, email } = inline as { name?: unknown; email?: unknown };
    if (typeof email !== 'string' || !email.trim()) throw invalid('requester', 'Requester: email is required', 'BlankValue');
    const found = this.findUserByEmail(email);
    if (found) return { ...input, requester_id: found.id };
    const made = this.applyUser({ name: typeof name === 'string' && name.trim() ? name : email, email, role: 'end-user' }, null);
    return { ...input, requester_id: made.id };
  }

  /** The regular create API: the first comment is the description, timestamps are now. */
  createTicket(input: Record<string, unknown>): StoredTicket {
    this.validateTicket(input, null);
    const comment = (input.comment ?? (typeof input.description === 'string' ? { body: input.description } : null)) as Record<string, unknown> | null;
    if (!comment) throw invalid('description', 'Description: cannot be blank', 'BlankValue');
    this.checkComments([comment]);
    const t = this.newTicket();
    this.applyTicketProps(t, input);
    t.submitter_id = t.requester_id;
    t.comments = [this.buildComment(comment, t.requester_id, t.created_at)];
    if (input.status === undefined) t.status = t.assignee_id ? 'open' : 'new';
    this.insertTicket(t);
    return t;
  }

  updateTicket(id: number, input: Record<string, unknown>): { ticket: StoredTicket; comment: StoredComment | null } {
    const existing = this.ticket(id);
    if (!existing) throw notFound();
    this.validateTicket(input, existing);
    const comment = input.comment as Record<string, unknown> | undefined;
    if (comment) this.checkComments([comment]);
    const t = this.materialize(id);
    this.applyTicketProps(t, input);
    const now = nowSec();
    let added: StoredComment | null = null;
    if (comment) {
      added = this.buildComment(comment, this.owner.id, now);
      t.comments.push(added);
    }
    this.touchTicket(t, now);
    return { ticket: t, comment: added };
  }

  attachmentBytes(a: StoredAttachment): Uint8Array {
    if (a.bytes) return a.bytes;
    return attachmentContent({ sourceId: a.seedId ?? String(a.id), contentType: a.content_type, size: a.size });
  }

  /** Finds an attachment by its download token (uploaded, or seeded `s{ticket}x{attachment}`). */
  attachmentByToken(token: string): StoredAttachment | undefined {
    const uploaded = this.downloads.get(token);
    if (uploaded) return uploaded;
    const m = /^s(\d+)x(\d+)$/.exec(token);
    if (!m) return undefined;
    const t = this.ticket(Number(m[1]), true);
    for (const c of t?.comments ?? []) for (const a of c.attachments) if (a.id === Number(m[2])) return a;
    return undefined;
  }

  upload(fileName: string, contentType: string, bytes: Uint8Array, token: string | null): { token: string; attachment: StoredAttachment; all: StoredAttachment[] } {
    const id = this.nextCommentId++;
    const downloadToken = createHash('sha1').update(`${id}:${fileName}`).digest('hex').slice(0, 24);
    const attachment: StoredAttachment = {
      id,
      file_name: fileName,
      content_type: !contentType || contentType === 'application/binary' || contentType === 'application/octet-stream' ? guessContentType(fileName) : contentType,
      size: bytes.length,
      inline: false,
      token: downloadToken,
      bytes,
    };
    this.downloads.set(downloadToken, attachment);
    const uploadToken = token && this.uploads.has(token) ? token : createHash('sha1').update(`upload:${id}`).digest('hex').slice(0, 25);
    const list = this.uploads.get(uploadToken) ?? [];
    list.push(attachment);
    this.uploads.set(uploadToken, list);
    return { token: uploadToken, attachment, all: list };
  }

  // -------------------------------------------------------------------------------------------
  // Counts

  counts(): Record<string, number> {
    let agents = 0;
    let contacts = 0;
    for (const u of this.users.values()) {
      // Deleted end-users read as deletions; deleted agents stay as inactive stubs (canonical `deleted`).
      if (u.role !== 'end-user') agents += 1;
      else if (u.active) contacts += 1;
    }
    let orgs = 0;
    for (const o of this.organizations.values()) if (!o.deleted_at) orgs += 1;
    let fields = 0;
    for (const f of this.ticketFields.values()) if (f.removable) fields += 1;
    return {
      group: [...this.groups.values()].filter((g) => !g.deleted).length,
      agent: agents,
      organization: orgs,
      contact: contacts,
      ticketField: fields,
      ticket: this.ticketCount,
      kbCategory: this.categories.size,
      kbSection: this.sections.size,
      kbArticle: this.articles.size,
    };
  }
}
