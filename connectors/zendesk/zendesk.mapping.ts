import { splitLinkedAttachments } from '../sdk/attachment-overflow.ts';
import type { ListedTicket } from '../sdk/contract.ts';
/**
 * Pure record translation between Zendesk's JSON and the canonical model. No I/O, no clock.
 * Reading what the writer wrote gives back the same canonical record: every function here has its inverse.
 */
import type {
  Agent,
  AgentRole,
  AttachmentMeta,
  Comment,
  Contact,
  CustomFieldValue,
  CustomFieldValues,
  FieldOption,
  Group,
  KbArticle,
  KbCategory,
  KbSection,
  KbTranslation,
  Organization,
  Ticket,
  TicketField,
  TicketFieldType,
  TicketPriority,
  TicketStatus,
  TicketType,
} from '../../schemas/canonical.ts';
import { TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES } from '../../schemas/canonical.ts';
import type {
  ZdArticle,
  ZdAttachment,
  ZdCategory,
  ZdComment,
  ZdCustomFieldValue,
  ZdFieldType,
  ZdGroup,
  ZdOrganization,
  ZdSection,
  ZdTicket,
  ZdTicketField,
  ZdTranslation,
  ZdUser,
} from './zendesk.types.ts';

/** Zendesk timestamps (`2024-01-02T03:04:05Z`) as canonical ISO-8601 (`…05.000Z`). */
export function isoTime(value: string | null | undefined): string {
  if (!value) return new Date(0).toISOString();
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

/** Canonical ISO time as Zendesk writes it (second precision, `Z`). */
export function zdTime(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** A ticket field's canonical key: the slug of its title ("Order number" → `order_number`). */
export function fieldKey(title: string): string {
  return title
    .replace(/ß/g, 'ss')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * Zendesk ticket fields have no machine key. A field whose canonical key is not the slug of its title
 * (a key from another platform) carries it in its agents-only description, so it reads back unchanged.
 */
const KEY_MARKER = /\[hdm-key:([A-Za-z0-9_.-]+)\]/;

export function keyMarker(key: string): string {
  return `[hdm-key:${key}]`;
}

/** The canonical key of a Zendesk ticket field: its marker if it has one, else the slug of its title. */
export function ticketFieldKey(field: Pick<ZdTicketField, 'id' | 'title' | 'agent_description'>): string {
  const marked = field.agent_description ? KEY_MARKER.exec(field.agent_description) : null;
  return marked ? marked[1] : fieldKey(field.title) || `field_${field.id}`;
}

/** The agent description a field needs so that it reads back with `key` (null: none needed). */
export function agentDescriptionFor(key: string, field: Pick<ZdTicketField, 'id' | 'title' | 'agent_description'>): string | null {
  if (ticketFieldKey(field) === key) return null;
  const rest = (field.agent_description ?? '').replace(KEY_MARKER, '').trim();
  if (key === (fieldKey(field.title) || `field_${field.id}`)) return rest;
  return rest ? `${rest} ${keyMarker(key)}` : keyMarker(key);
}

/** A Zendesk tag: lowercase, no whitespace (Zendesk splits tags on spaces). */
export function tagValue(value: string): string {
  const cleaned = value.trim().toLowerCase().replace(/\s+/g, '_');
  return cleaned.length > 0 ? cleaned : 'option';
}

const CANONICAL_TO_ZD_TYPE: Record<TicketFieldType, ZdFieldType> = {
  text: 'text',
  textarea: 'textarea',
  checkbox: 'checkbox',
  date: 'date',
  integer: 'integer',
  decimal: 'decimal',
  dropdown: 'tagger',
  multiselect: 'multiselect',
  regex: 'regexp',
};
const ZD_TO_CANONICAL_TYPE: Partial<Record<ZdFieldType, TicketFieldType>> = {
  text: 'text',
  textarea: 'textarea',
  checkbox: 'checkbox',
  date: 'date',
  integer: 'integer',
  decimal: 'decimal',
  tagger: 'dropdown',
  multiselect: 'multiselect',
  regexp: 'regex',
};

export function zendeskFieldType(type: TicketFieldType): ZdFieldType {
  return CANONICAL_TO_ZD_TYPE[type];
}

/** Custom fields are the removable ones of a type the canonical model knows (system fields are not ticket fields). */
export function isCustomField(field: ZdTicketField): boolean {
  return field.removable !== false && ZD_TO_CANONICAL_TYPE[field.type] !== undefined;
}

/** The account's custom ticket fields, by ID and by canonical key, translating values both ways. */
export class FieldCatalog {
  readonly byId = new Map<number, ZdTicketField>();
  readonly byKey = new Map<string, ZdTicketField>();

  constructor(fields: readonly ZdTicketField[]) {
    for (const field of fields) {
      if (!isCustomField(field)) continue;
      this.byId.set(field.id, field);
      const key = ticketFieldKey(field);
      // The lowest ID, as the writer keeps it when two loaders created a field at once.
      const held = this.byKey.get(key);
      if (!held || field.id < held.id) this.byKey.set(key, field);
    }
  }

  keyOf(field: ZdTicketField): string {
    return ticketFieldKey(field);
  }

  /** Every custom field's value, keyed canonically (null where unset). */
  toCanonical(values: readonly ZdCustomFieldValue[] | undefined): CustomFieldValues {
    const out: CustomFieldValues = {};
    const given = new Map((values ?? []).map((v) => [v.id, v.value]));
    for (const field of this.byId.values()) {
      const key = this.keyOf(field);
      if (key in out) continue;
      out[key] = canonicalValue(field, given.get(field.id) ?? null);
    }
    return out;
  }

  /** Canonical values as Zendesk's `custom_fields`; keys the account does not have are returned as unknown. */
  toZendesk(values: CustomFieldValues, resolve: (key: string) => ZdTicketField | undefined = (k) => this.byKey.get(k)): {
    custom_fields: ZdCustomFieldValue[];
    unknown: string[];
  } {
    const custom_fields: ZdCustomFieldValue[] = [];
    const unknown: string[] = [];
    for (const [key, value] of Object.entries(values)) {
      const field = resolve(key);
      if (!field) {
        if (value !== null && value !== '' && !(Array.isArray(value) && value.length === 0)) unknown.push(key);
        continue;
      }
      custom_fields.push({ id: field.id, value: zendeskValue(field, value) });
    }
    return { custom_fields, unknown };
  }

  /** Tags Zendesk adds to a ticket by itself for its dropdown, multi-select and checkbox values. */
  impliedTags(values: readonly ZdCustomFieldValue[] | undefined): Set<string> {
    const out = new Set<string>();
    for (const v of values ?? []) {
      const field = this.byId.get(v.id);
      if (!field || v.value === null) continue;
      if (field.type === 'tagger' && typeof v.value === 'string') out.add(v.value);
      else if (field.type === 'multiselect' && Array.isArray(v.value)) v.value.forEach((t) => out.add(t));
      else if (field.type === 'checkbox' && v.value === true && field.tag) out.add(field.tag);
    }
    return out;
  }
}

export function canonicalValue(field: ZdTicketField, value: ZdCustomFieldValue['value']): CustomFieldValue {
  if (value === null || value === undefined || value === '') return null;
  const label = (tag: string) => field.custom_field_options?.find((o) => o.value === tag)?.name ?? tag;
  switch (field.type) {
    case 'tagger':
      return label(String(value));
    case 'multiselect': {
      const tags = Array.isArray(value) ? value : String(value).split(/\s+/);
      return tags.length === 0 ? null : tags.map(label);
    }
    case 'checkbox':
      return value === true || value === 'true' || value === 'yes' || value === 1;
    case 'integer': {
      const n = Number.parseInt(String(value), 10);
      return Number.isNaN(n) ? null : n;
    }
    case 'decimal': {
      const n = Number.parseFloat(String(value));
      return Number.isNaN(n) ? null : n;
    }
    case 'date':
      return String(value).slice(0, 10);
    default:
      return Array.isArray(value) ? value.join(' ') : String(value);
  }
}

export function zendeskValue(field: ZdTicketField, value: CustomFieldValue): ZdCustomFieldValue['value'] {
  if (value === null) return null;
  const tag = (labelOrValue: string) => {
    const options = field.custom_field_options ?? [];
    const found =
      options.find((o) => o.name === labelOrValue) ??
      options.find((o) => o.name.toLowerCase() === labelOrValue.toLowerCase()) ??
      options.find((o) => o.value === labelOrValue);
    return found ? found.value : tagValue(labelOrValue);
  };
  switch (field.type) {
    case 'tagger':
      return tag(String(Array.isArray(value) ? value[0] : value));
    case 'multiselect':
      return (Array.isArray(value) ? value : [String(value)]).map(tag);
    case 'checkbox':
      return value === true || value === 'true';
    case 'integer':
    case 'decimal':
      return typeof value === 'number' ? value : Number(value);
    default:
      return Array.isArray(value) ? value.join(' ') : String(value);
  }
}

// ---------------------------------------------------------------------------------------------
// Tickets

const ZD_COMMENT_WRAPPER = /^\s*<div class="zd-comment"[^>]*>([\s\S]*)<\/div>\s*$/;

/** Zendesk wraps stored HTML bodies in `<div class="zd-comment" dir="auto">…</div>`; the canonical body is what is inside. */
export function unwrapCommentHtml(html: string): string {
  const m = ZD_COMMENT_WRAPPER.exec(html);
  return m ? m[1] : html;
}

export function toCanonicalAttachment(a: ZdAttachment): AttachmentMeta {
  return {
    sourceId: String(a.id),
    fileName: a.file_name,
    contentType: a.content_type,
    size: a.size,
    url: a.content_url,
    inline: a.inline === true,
  };
}

export function toCanonicalComment(c: ZdComment): Comment {
  // Files the writer kept at the attachment location (over the per-file limit) are read back as attachments.
  const { body, linked } = splitLinkedAttachments(unwrapCommentHtml(c.html_body ?? c.body ?? ''));
  return {
    sourceId: String(c.id),
    authorId: c.author_id === null || c.author_id === undefined ? null : String(c.author_id),
    body,
    public: c.public !== false,
    createdAt: isoTime(c.created_at),
    attachments: [...(c.attachments ?? []).filter((a) => !a.deleted).map(toCanonicalAttachment), ...linked],
  };
}

/**
 * Most bytes one upload may have (Zendesk help center, "Attaching files to tickets": 50 MB per file,
 * a limit no plan raises).
 */
export const ZD_UPLOAD_MAX_BYTES = 50 * 1024 * 1024;

const idOrNull = (id: number | null | undefined): string | null => (id === null || id === undefined ? null : String(id));
const numOrNull = (id: string | null | undefined): number | null => (id === null || id === undefined || id === '' ? null : Number(id));

function oneOf<T extends string>(value: string | null | undefined, allowed: readonly T[]): T | null {
  return value && (allowed as readonly string[]).includes(value) ? (value as T) : null;
}

const statusFromZd = (status: string | null | undefined): TicketStatus => oneOf<TicketStatus>(status, TICKET_STATUSES) ?? 'open';

/** What an export or list page says of a ticket, for `ReadOptions.only`. */
export function listedTicket(t: ZdTicket): ListedTicket {
  return { sourceId: String(t.id), updatedAt: isoTime(t.updated_at), status: statusFromZd(t.status) };
}

export function toCanonicalTicket(t: ZdTicket, comments: readonly ZdComment[], catalog: FieldCatalog): Ticket {
  const implied = catalog.impliedTags(t.custom_fields);
  const sorted = [...comments].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
  return {
    sourceId: String(t.id),
    subject: t.subject ?? t.raw_subject ?? '',
    status: statusFromZd(t.status),
    priority: oneOf<TicketPriority>(t.priority, TICKET_PRIORITIES),
    type: oneOf<TicketType>(t.type, TICKET_TYPES),
    requesterId: idOrNull(t.requester_id),
    assigneeId: idOrNull(t.assignee_id),
    groupId: idOrNull(t.group_id),
    organizationId: idOrNull(t.organization_id),
    tags: (t.tags ?? []).filter((tag) => !implied.has(tag)),
    customFields: catalog.toCanonical(t.custom_fields),
    createdAt: isoTime(t.created_at),
    updatedAt: isoTime(t.updated_at),
    comments: sorted.map(toCanonicalComment),
  };
}

/** A comment as the import and update APIs take it. */
export interface ZdCommentInput {
  author_id?: number;
  html_body: string;
  public: boolean;
  created_at?: string;
  uploads?: string[];
}

/** The ticket's own properties (no comments) for the import and update APIs. */
export function toZendeskTicketProps(record: Ticket, customFields: ZdCustomFieldValue[]): Record<string, unknown> {
  return {
    subject: record.subject,
    status: record.status,
    priority: record.priority,
    type: record.type,
    requester_id: numOrNull(record.requesterId),
    assignee_id: numOrNull(record.assigneeId),
    group_id: numOrNull(record.groupId),
    organization_id: numOrNull(record.organizationId),
    tags: record.tags,
    custom_fields: customFields,
  };
}

export function toZendeskCommentInput(comment: Comment, body: string, uploads: string[], withTime: boolean): ZdCommentInput {
  const input: ZdCommentInput = { html_body: body, public: comment.public };
  const author = numOrNull(comment.authorId);
  if (author !== null) input.author_id = author;
  if (withTime) input.created_at = zdTime(comment.createdAt);
  if (uploads.length > 0) input.uploads = uploads;
  return input;
}

// ---------------------------------------------------------------------------------------------
// Users, organizations, groups

/** Zendesk's `time_zone` uses Rails names; `iana_time_zone` carries the IANA one. */
export function userTimeZone(u: Pick<ZdUser, 'time_zone' | 'iana_time_zone'>): string | null {
  return u.iana_time_zone ?? u.time_zone ?? null;
}

export function isAgentUser(u: Pick<ZdUser, 'role'>): boolean {
  return u.role === 'agent' || u.role === 'admin';
}

/** Light agents are agents with role_type 1. */
export const LIGHT_AGENT_ROLE_TYPE = 1;

export function agentRole(u: Pick<ZdUser, 'role' | 'role_type'>): AgentRole {
  if (u.role === 'admin') return 'admin';
  return u.role_type === LIGHT_AGENT_ROLE_TYPE ? 'light' : 'agent';
}

export function toCanonicalAgent(u: ZdUser, groupIds: readonly number[]): Agent {
  return {
    sourceId: String(u.id),
    name: u.name,
    email: u.email ?? '',
    role: agentRole(u),
    // Zendesk keeps deleted users as inactive stubs; suspended users are deactivated but still there.
    active: u.active !== false && u.suspended !== true,
    deleted: u.active === false,
    groupIds: groupIds.map(String),
    timeZone: userTimeZone(u),
    createdAt: isoTime(u.created_at),
    updatedAt: isoTime(u.updated_at),
  };
}

function primitiveFields(values: Record<string, unknown> | null | undefined): CustomFieldValues {
  const out: CustomFieldValues = {};
  for (const [key, value] of Object.entries(values ?? {})) {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[key] = value as string[];
  }
  return out;
}

export function toCanonicalContact(u: ZdUser): Contact {
  return {
    sourceId: String(u.id),
    name: u.name,
    email: u.email ?? null,
    phone: u.phone ?? null,
    organizationId: idOrNull(u.organization_id),
    tags: u.tags ?? [],
    timeZone: userTimeZone(u),
    customFields: primitiveFields(u.user_fields),
    createdAt: isoTime(u.created_at),
    updatedAt: isoTime(u.updated_at),
  };
}

export function toZendeskAgent(record: Agent, stamp: string | null): Record<string, unknown> {
  const user: Record<string, unknown> = {
    name: record.name,
    email: record.email,
    role: record.role === 'admin' ? 'admin' : 'agent',
    verified: true,
    suspended: !record.active,
  };
  if (stamp) user.external_id = stamp;
  if (record.timeZone) user.time_zone = record.timeZone;
  return user;
}

export function toZendeskContact(record: Contact, stamp: string | null): Record<string, unknown> {
  const user: Record<string, unknown> = {
    name: record.name,
    phone: record.phone,
    role: 'end-user',
    verified: true,
    organization_id: numOrNull(record.organizationId),
    tags: record.tags,
    user_fields: record.customFields,
  };
  // Phone-only and social contacts have no email: leave the key out rather than send null.
  if (record.email) user.email = record.email;
  if (stamp) user.external_id = stamp;
  if (record.timeZone) user.time_zone = record.timeZone;
  return user;
}

export function toCanonicalOrganization(o: ZdOrganization): Organization {
  return {
    sourceId: String(o.id),
    name: o.name,
    domains: o.domain_names ?? [],
    notes: o.notes === '' ? null : (o.notes ?? null),
    tags: o.tags ?? [],
    customFields: primitiveFields(o.organization_fields),
    createdAt: isoTime(o.created_at),
    updatedAt: isoTime(o.updated_at),
  };
}

export function toZendeskOrganization(record: Organization, stamp: string | null): Record<string, unknown> {
  const org: Record<string, unknown> = {
    name: record.name,
    domain_names: record.domains,
    notes: record.notes ?? '',
    tags: record.tags,
    organization_fields: record.customFields,
  };
  if (stamp) org.external_id = stamp;
  return org;
}

export function toCanonicalGroup(g: ZdGroup): Group {
  return {
    sourceId: String(g.id),
    name: g.name,
    description: g.description ? g.description : null,
    createdAt: isoTime(g.created_at),
    updatedAt: isoTime(g.updated_at),
  };
}

export function toZendeskGroup(record: Group): Record<string, unknown> {
  return { name: record.name, description: record.description ?? '' };
}

// ---------------------------------------------------------------------------------------------
// Ticket fields

export function toCanonicalTicketField(f: ZdTicketField): TicketField | null {
  const type = ZD_TO_CANONICAL_TYPE[f.type];
  if (!type || f.removable === false) return null;
  const options: FieldOption[] = (f.custom_field_options ?? []).map((o) => ({ value: o.value, label: o.name }));
  return {
    sourceId: String(f.id),
    key: ticketFieldKey(f),
    title: f.title,
    type,
    required: f.required === true,
    active: f.active !== false,
    options: type === 'dropdown' || type === 'multiselect' ? options : [],
    pattern: type === 'regex' ? (f.regexp_for_validation ?? null) : null,
    createdAt: isoTime(f.created_at),
    updatedAt: isoTime(f.updated_at),
  };
}

export function toZendeskTicketField(record: TicketField): Record<string, unknown> {
  const type = zendeskFieldType(record.type);
  const field: Record<string, unknown> = { type, title: record.title, required: record.required, active: record.active };
  if (type === 'tagger' || type === 'multiselect') {
    const seen = new Set<string>();
    field.custom_field_options = record.options.map((o) => {
      let value = tagValue(o.value || o.label);
      while (seen.has(value)) value = `${value}_`;
      seen.add(value);
      return { name: o.label, value };
    });
  }
  if (type === 'regexp') field.regexp_for_validation = record.pattern ?? '.*';
  const description = agentDescriptionFor(record.key, { id: 0, title: record.title, agent_description: null });
  if (description) field.agent_description = description;
  return field;
}

// ---------------------------------------------------------------------------------------------
// Help Center

export function toCanonicalCategory(c: ZdCategory): KbCategory {
  return {
    sourceId: String(c.id),
    name: c.name,
    description: c.description ? c.description : null,
    locale: c.source_locale ?? c.locale,
    position: c.position ?? 0,
    createdAt: isoTime(c.created_at),
    updatedAt: isoTime(c.updated_at),
  };
}

export function toCanonicalSection(s: ZdSection): KbSection {
  return { ...toCanonicalCategory(s), categoryId: String(s.category_id) };
}

export function toCanonicalArticle(a: ZdArticle, translations: readonly ZdTranslation[]): KbArticle {
  const sourceLocale = a.source_locale ?? a.locale;
  const own = translations.find((t) => t.locale === sourceLocale);
  const others: KbTranslation[] = translations
    .filter((t) => t.locale !== sourceLocale)
    .sort((x, y) => x.locale.localeCompare(y.locale))
    .map((t) => ({ locale: t.locale, title: t.title, body: t.body ?? '', draft: t.draft === true, updatedAt: isoTime(t.updated_at) }));
  return {
    sourceId: String(a.id),
    sectionId: String(a.section_id),
    authorId: idOrNull(a.author_id),
    locale: sourceLocale,
    title: own?.title ?? a.title,
    body: own?.body ?? a.body ?? '',
    draft: own ? own.draft === true : a.draft === true,
    tags: a.label_names ?? [],
    position: a.position ?? 0,
    createdAt: isoTime(a.created_at),
    updatedAt: isoTime(a.updated_at),
    translations: others,
  };
}
