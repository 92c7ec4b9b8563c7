import { attachmentContent, fakeHelpdesk, type FakeHelpdesk } from '../../sdk/fake-helpdesk.ts';
import type { EntityName, Ticket } from '../../../schemas/canonical.ts';
import {
  customFieldsToFd,
  fdFieldName,
  fieldIndex,
  fieldTypeToFd,
  isEngineField,
  multiValuesFieldName,
  priorityToFd,
  STAMP_FIELD,
  statusToFd,
  TYPE_TO_FD,
  type FieldIndex,
} from '../freshdesk.mapping.ts';
import type { FdAgent, FdArticle, FdCategory, FdCompany, FdContact, FdFolder, FdGroup, FdRole, FdTicketField } from '../freshdesk.types.ts';

/** An attachment as the sandbox keeps it: seeded ones regenerate their bytes, uploaded ones hold them. */
export interface StoredAttachment {
  id: number;
  name: string;
  content_type: string;
  size: number;
  created_at: string;
  /** Seeded: the fake helpdesk's attachment ID, from which the bytes are derived. */
  seedId?: string;
  bytes?: Uint8Array;
}

export interface StoredConversation {
  id: number;
  body: string;
  private: boolean;
  incoming: boolean;
  user_id: number | null;
  source: number;
  created_at: string;
  updated_at: string;
  attachments: StoredAttachment[];
}

export interface StoredTicket {
  id: number;
  subject: string;
  description: string;
  status: number;
  priority: number;
  type: string | null;
  source: number;
  requester_id: number;
  responder_id: number | null;
  group_id: number | null;
  company_id: number | null;
  tags: string[];
  custom_fields: Record<string, string | number | boolean | null>;
  created_at: string;
  updated_at: string;
  attachments: StoredAttachment[];
  conversations: StoredConversation[];
  deleted: boolean;
}

export const ADMIN_EMAIL_DOMAIN = 'sandbox.freshdesk.test';
export const LANGUAGES = { primary: 'en', supported: ['de', 'fr', 'es', 'ja-JP'] };

const ROLE_TIME = '2020-01-01T00:00:00Z';
/** API v2 reference, Roles › "View a Role": id, name, description, default, created_at, updated_at. */
export const ROLES: FdRole[] = [
  { id: 1, name: 'Account Administrator', description: 'Has complete control over the help desk including access to Account or Billing related information, and receives Invoices.', default: true, created_at: ROLE_TIME, updated_at: ROLE_TIME },
  { id: 2, name: 'Administrator', description: 'Can configure all features through the Admin tab, but is restricted from viewing Account or Billing related information.', default: true, created_at: ROLE_TIME, updated_at: ROLE_TIME },
  { id: 3, name: 'Supervisor', description: 'Can perform all agent related activities, access reports and see unresolved tickets dashboard.', default: true, created_at: ROLE_TIME, updated_at: ROLE_TIME },
  { id: 4, name: 'Agent', description: 'Can log, view, reply, update and resolve tickets and manage contacts.', default: true, created_at: ROLE_TIME, updated_at: ROLE_TIME },
];

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** Freshdesk's timestamp format: seconds, no fraction. */
const T = (value: string) => value.replace(/\.\d{3}Z$/, 'Z');
const secs = (value: string) => Math.floor(Date.parse(value) / 1000);

/** The sandbox's data: seeded tickets generated on demand, everything written kept in maps. */
export class SandboxStore {
  readonly fake: FakeHelpdesk | null;
  readonly seedCount: number;
  private seedUpdated: Float64Array;
  private seedCreated: Float64Array;
  /** Tickets created or changed through the API (seeded ones move here when first changed). */
  readonly tickets = new Map<number, StoredTicket>();
  private cache = new Map<number, StoredTicket>();
  private order: Int32Array | null = null;
  private stamps = new Map<string, number>();
  readonly ready: Promise<void>;

  readonly contacts = new ContactMap();
  readonly agents = new Map<number, FdAgent>();
  readonly companies = new Map<number, FdCompany>();
  readonly groups = new Map<number, FdGroup>();
  readonly fields: (FdTicketField & { choices?: { id: number; value: string; position: number }[] })[] = [];
  readonly categories = new Map<number, FdCategory>();
  readonly folders = new Map<number, FdFolder & { category_id: number }>();
  readonly articles = new Map<number, FdArticle>();
  readonly translations = new Map<number, Map<string, FdArticle>>();
  readonly uploads = new Map<number, StoredAttachment>();
  private nextIds = { ticket: 0, user: 0, conversation: 0, attachment: 0, company: 0, group: 0, field: 0, kb: 0, choice: 0 };
  private seedIndex: FieldIndex = new Map();

  constructor(options: { seed: number; tickets: number; articles: number; maxComments: number }) {
    this.seedCount = options.tickets;
    this.seedUpdated = new Float64Array(options.tickets);
    this.seedCreated = new Float64Array(options.tickets);
    this.fake = options.tickets > 0 ? fakeHelpdesk({ seed: options.seed, tickets: options.tickets, articles: options.articles, maxComments: options.maxComments }) : null;
    this.seedDefaults(options.seed);
    if (this.fake) this.seedFrom(this.fake);
    this.nextIds.ticket = options.tickets;
    this.ready = this.buildIndex();
  }

  now(): string {
    return iso(Date.now());
  }

  id(kind: keyof SandboxStore['nextIds']): number {
    this.nextIds[kind] += 1;
    return this.nextIds[kind];
  }

  private seedDefaults(seed: number): void {
    this.nextIds = { ticket: 0, user: 200_000_000, conversation: 900_000_000, attachment: 1_900_000_000, company: 80_000_000, group: 70_000_000, field: 60_000_000, kb: 50_000_000, choice: 1000 };
    const created = '2020-01-01T00:00:00Z';
    const field = (id: number, name: string, label: string, type: string, extra: Partial<FdTicketField> = {}) =>
      this.fields.push({
        id,
        name,
        label,
        label_for_customers: label,
        description: null,
        position: this.fields.length + 1,
        type,
        default: true,
        required_for_closure: false,
        required_for_agents: name === 'requester' || name === 'subject',
        required_for_customers: false,
        customers_can_edit: true,
        displayed_to_customers: true,
        created_at: created,
        updated_at: created,
        ...extra,
      } as FdTicketField & { choices?: { id: number; value: string; position: number }[] });
    field(1, 'requester', 'Search a requester', 'default_requester');
    field(2, 'subject', 'Subject', 'default_subject');
    const types = ['Question', 'Incident', 'Problem', 'Feature Request', 'Refund', ...(this.seedCount > 0 ? ['Task'] : [])];
    field(3, 'ticket_type', 'Type', 'default_ticket_type', { choices: types.map((value, i) => ({ id: this.id('choice'), value, position: i + 1 })) });
    field(4, 'source', 'Source', 'default_source');
    field(5, 'status', 'Status', 'default_status');
    field(6, 'priority', 'Priority', 'default_priority');
    field(7, 'group', 'Group', 'default_group');
    field(8, 'agent', 'Agent', 'default_agent');
    field(9, 'description', 'Description', 'default_description');
    if (this.seedCount === 0) {
      const id = this.id('user');
      const at = '2024-01-01T00:00:00Z';
      this.agents.set(id, {
        id,
        occasional: false,
        ticket_scope: 1,
        type: 'support_agent',
        group_ids: [],
        role_ids: [1],
        available: false,
        contact: { name: `Account Admin ${seed}`, email: `admin-${seed}@${ADMIN_EMAIL_DOMAIN}`, active: true, time_zone: 'UTC', language: 'en', created_at: at, updated_at: at },
        created_at: at,
        updated_at: at,
      });
    }
  }

  private seedFrom(fake: FakeHelpdesk): void {
    for (const g of fake.groups) this.groups.set(Number(g.sourceId), { id: Number(g.sourceId), name: g.name, description: g.description, agent_ids: [], created_at: T(g.createdAt), updated_at: T(g.updatedAt) });
    for (const c of fake.organizations) {
      this.companies.set(Number(c.sourceId), { id: Number(c.sourceId), name: c.name, description: null, note: c.notes, domains: c.domains, custom_fields: {}, created_at: T(c.createdAt), updated_at: T(c.updatedAt) });
    }
    for (const a of fake.agents) {
      const id = Number(a.sourceId);
      if (a.deleted) {
        // Deleting an agent on Freshdesk downgrades it to a contact.
        this.contacts.set(id, this.contact({ id, name: a.name, email: a.email, created_at: T(a.createdAt), updated_at: T(a.updatedAt) }));
        continue;
      }
      this.agents.set(id, {
        id,
        occasional: false,
        ticket_scope: 1,
        type: 'support_agent',
        group_ids: a.groupIds.map(Number),
        role_ids: [a.role === 'admin' ? 1 : 4],
        available: a.active,
        contact: { name: a.name, email: a.email, active: true, time_zone: a.timeZone, language: 'en', created_at: T(a.createdAt), updated_at: T(a.updatedAt) },
        created_at: T(a.createdAt),
        updated_at: T(a.updatedAt),
      });
      for (const g of a.groupIds) this.groups.get(Number(g))?.agent_ids?.push(id);
    }
    for (const c of fake.contacts) {
      this.contacts.set(
        Number(c.sourceId),
        this.contact({ id: Number(c.sourceId), name: c.name, email: c.email, phone: c.phone, company_id: c.organizationId === null ? null : Number(c.organizationId), tags: c.tags, created_at: T(c.createdAt), updated_at: T(c.updatedAt) }),
      );
    }
    for (const def of fake.ticketFields) {
      this.fields.push({
        id: Number(def.sourceId),
        name: fdFieldName(def.key, def.type),
        label: def.title,
        label_for_customers: def.title,
        description: null,
        position: this.fields.length + 1,
        type: fieldTypeToFd(def.type),
        default: false,
        required_for_closure: false,
        required_for_agents: false,
        required_for_customers: false,
        customers_can_edit: true,
        displayed_to_customers: true,
        created_at: T(def.createdAt),
        updated_at: T(def.updatedAt),
        ...(def.type === 'dropdown' || def.type === 'multiselect' ? { choices: def.options.map((o, i) => ({ id: this.id('choice'), value: o.label, position: i + 1 })) } : {}),
      });
    }
    for (const def of fake.ticketFields.filter((d) => d.type === 'multiselect')) {
      const at = T(def.createdAt);
      this.fields.push({
        id: Number(def.sourceId) + 500,
        name: multiValuesFieldName(def.key),
        label: def.title,
        label_for_customers: def.title,
        description: null,
        position: this.fields.length + 1,
        type: 'custom_paragraph',
        default: false,
        required_for_closure: false,
        required_for_agents: false,
        required_for_customers: false,
        customers_can_edit: true,
        displayed_to_customers: true,
        created_at: at,
        updated_at: at,
      });
    }
    this.seedIndex = fieldIndex(this.fields);
    for (const c of fake.kbCategories) this.categories.set(Number(c.sourceId), { id: Number(c.sourceId), name: c.name, description: c.description, created_at: T(c.createdAt), updated_at: T(c.updatedAt) });
    for (const s of fake.kbSections) {
      this.folders.set(Number(s.sourceId), { id: Number(s.sourceId), name: s.name, description: s.description, visibility: 1, category_id: Number(s.categoryId), created_at: T(s.createdAt), updated_at: T(s.updatedAt) });
    }
    for (const a of fake.kbArticles) {
      const folder = this.folders.get(Number(a.sectionId))!;
      const article: FdArticle = {
        id: Number(a.sourceId),
        type: 1,
        category_id: folder.category_id,
        folder_id: folder.id,
        title: a.title,
        description: a.body,
        status: a.draft ? 1 : 2,
        agent_id: a.authorId === null ? null : Number(a.authorId),
        tags: a.tags,
        created_at: T(a.createdAt),
        updated_at: T(a.updatedAt),
      };
      this.articles.set(article.id, article);
      const byLanguage = new Map<string, FdArticle>();
      for (const t of a.translations) {
        const language = t.locale === 'de' ? 'de' : t.locale;
        byLanguage.set(language, { ...article, title: t.title, description: t.body, status: t.draft ? 1 : 2, updated_at: T(t.updatedAt) });
      }
      this.translations.set(article.id, byLanguage);
    }
  }

  contact(fields: Partial<FdContact> & { id: number; name: string; created_at: string; updated_at: string }): FdContact {
    return {
      email: null,
      phone: null,
      mobile: null,
      company_id: null,
      view_all_tickets: false,
      other_emails: [],
      twitter_id: null,
      address: null,
      description: null,
      job_title: null,
      language: 'en',
      tags: [],
      time_zone: null,
      unique_external_id: null,
      custom_fields: {},
      active: true,
      ...fields,
    } as FdContact;
  }

  /** Generates the seeded tickets once to learn their timestamps, yielding to the event loop between chunks. */
  private async buildIndex(): Promise<void> {
    if (!this.fake) return;
    for (let i = 0; i < this.seedCount; i++) {
      const t = this.fake.ticket(i);
      this.seedUpdated[i] = secs(T(t.updatedAt));
      this.seedCreated[i] = secs(T(t.createdAt));
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private fromSeed(index: number): StoredTicket {
    const t: Ticket = this.fake!.ticket(index);
    const agentIds = this.agents;
    const attachment = (a: Ticket['comments'][number]['attachments'][number], at: string): StoredAttachment => ({
      id: Number(a.sourceId),
      name: a.fileName,
      content_type: a.contentType,
      size: a.size,
      created_at: at,
      seedId: a.sourceId,
    });
    const [description, ...rest] = t.comments;
    return {
      id: index + 1,
      subject: t.subject,
      description: description?.body ?? '',
      status: statusToFd(t.status),
      priority: priorityToFd(t.priority),
      type: t.type === null ? null : TYPE_TO_FD[t.type],
      source: 1,
      requester_id: Number(t.requesterId),
      responder_id: t.assigneeId === null ? null : Number(t.assigneeId),
      group_id: t.groupId === null ? null : Number(t.groupId),
      company_id: t.organizationId === null ? null : Number(t.organizationId),
      tags: t.tags,
      custom_fields: customFieldsToFd(t.customFields, this.seedIndex).fields,
      created_at: T(t.createdAt),
      updated_at: T(t.updatedAt),
      attachments: (description?.attachments ?? []).map((a) => attachment(a, T(t.createdAt))),
      conversations: rest.map((c) => {
        const byAgent = agentIds.has(Number(c.authorId));
        return {
          id: Number(c.sourceId),
          body: c.body,
          private: !c.public,
          incoming: !byAgent,
          user_id: c.authorId === null ? null : Number(c.authorId),
          source: byAgent && c.public ? 0 : 2,
          created_at: T(c.createdAt),
          updated_at: T(c.createdAt),
          attachments: c.attachments.map((a) => attachment(a, T(c.createdAt))),
        };
      }),
      deleted: false,
    };
  }

  /** A ticket by ID, or undefined. */
  ticket(id: number): StoredTicket | undefined {
    const own = this.tickets.get(id);
    if (own) return own;
    if (!Number.isInteger(id) || id < 1 || id > this.seedCount) return undefined;
    let t = this.cache.get(id);
    if (!t) {
      t = this.fromSeed(id - 1);
      if (this.cache.size >= 512) this.cache.delete(this.cache.keys().next().value as number);
      this.cache.set(id, t);
    }
    return t;
  }

  /** A ticket about to change: moved out of the generated set into the stored one. */
  mutable(id: number): StoredTicket | undefined {
    const t = this.ticket(id);
    if (!t) return undefined;
    if (!this.tickets.has(id)) {
      this.tickets.set(id, t);
      this.cache.delete(id);
    }
    return t;
  }

  /** Call after a ticket's updated_at or existence changed. */
  touched(t: StoredTicket): void {
    this.order = null;
    const stamp = t.custom_fields[STAMP_FIELD];
    if (typeof stamp === 'string' && stamp) this.stamps.set(stamp, t.id);
  }

  byStamp(stamp: string): StoredTicket | undefined {
    const id = this.stamps.get(stamp);
    const t = id === undefined ? undefined : this.ticket(id);
    return t && !t.deleted && t.custom_fields[STAMP_FIELD] === stamp ? t : undefined;
  }

  updatedOf(id: number): number {
    const own = this.tickets.get(id);
    return own ? secs(own.updated_at) : this.seedUpdated[id - 1];
  }

  createdOf(id: number): number {
    const own = this.tickets.get(id);
    return own ? secs(own.created_at) : this.seedCreated[id - 1];
  }

  /** Live ticket IDs sorted by (updated_at, id). */
  sortedByUpdate(): Int32Array {
    if (!this.order) {
      const ids: number[] = [];
      for (let id = 1; id <= this.seedCount; id++) if (!this.tickets.get(id)?.deleted) ids.push(id);
      for (const [id, t] of this.tickets) if (id > this.seedCount && !t.deleted) ids.push(id);
      const upd = new Float64Array(this.nextIds.ticket + 1);
      for (const id of ids) upd[id] = this.updatedOf(id);
      const order = Int32Array.from(ids);
      order.sort((a, b) => upd[a] - upd[b] || a - b);
      this.order = order;
    }
    return this.order;
  }

  liveTicketCount(): number {
    let deleted = 0;
    for (const t of this.tickets.values()) if (t.deleted) deleted += 1;
    return this.seedCount + (this.nextIds.ticket - this.seedCount) - deleted - this.dropped;
  }

  /** Ticket IDs allocated but never stored (a create that failed validation after taking an ID). */
  private dropped = 0;
  releaseTicketId(): void {
    this.dropped += 1;
  }

  customFieldCount(): number {
    return this.fields.filter((f) => !f.default && !isEngineField(f)).length;
  }

  counts(): Record<EntityName, number> {
    return {
      group: this.groups.size,
      agent: this.agents.size,
      organization: this.companies.size,
      contact: [...this.contacts.values()].filter((c) => !c.deleted).length,
      ticketField: this.customFieldCount(),
      ticket: this.liveTicketCount(),
      kbCategory: this.categories.size,
      kbSection: this.folders.size,
      kbArticle: this.articles.size,
    };
  }

  attachmentBytes(a: StoredAttachment): Uint8Array {
    if (a.bytes) return a.bytes;
    return attachmentContent({ sourceId: a.seedId ?? String(a.id), contentType: a.content_type, size: a.size });
  }
}

type ContactKey = 'email' | 'unique_external_id' | 'phone' | 'mobile';
const CONTACT_KEYS: readonly ContactKey[] = ['email', 'unique_external_id', 'phone', 'mobile'];

/**
 * Contacts with lookup indexes on email, unique_external_id, phone and mobile, as a real helpdesk
 * has: without them a 50,000-contact sandbox answers each look-up by scanning every contact.
 * Entries are replaced through set(), never edited in place, so the indexes stay true.
 */
export class ContactMap extends Map<number, FdContact> {
  private readonly index = new Map<string, Set<number>>();

  private indexKeys(contact: FdContact): string[] {
    const out: string[] = [];
    for (const key of CONTACT_KEYS) {
      const value = contact[key as keyof FdContact];
      if (typeof value === 'string' && value !== '') out.push(`${key}\u0000${key === 'email' ? value.toLowerCase() : value}`);
    }
    return out;
  }

  override set(id: number, contact: FdContact): this {
    const previous = super.get(id);
    if (previous && this.index) for (const k of this.indexKeys(previous)) this.index.get(k)?.delete(id);
    super.set(id, contact);
    if (this.index) {
      for (const k of this.indexKeys(contact)) {
        let ids = this.index.get(k);
        if (!ids) this.index.set(k, (ids = new Set()));
        ids.add(id);
      }
    }
    return this;
  }

  override delete(id: number): boolean {
    const previous = super.get(id);
    if (previous) for (const k of this.indexKeys(previous)) this.index.get(k)?.delete(id);
    return super.delete(id);
  }

  /** Contacts whose `key` equals `value` (email compared without case), deleted ones included. */
  withValue(key: ContactKey, value: string): FdContact[] {
    const ids = this.index.get(`${key}\u0000${key === 'email' ? value.toLowerCase() : value}`);
    return ids ? [...ids].flatMap((id) => (super.get(id) ? [super.get(id)!] : [])) : [];
  }
}
