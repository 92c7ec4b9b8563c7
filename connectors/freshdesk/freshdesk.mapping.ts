/**
 * Pure record translation between Freshdesk API v2 JSON and the canonical model. No I/O, no clock.
 * Reading what the writer wrote gives back the same canonical record, except for the fields the
 * writer's `limitations` name.
 */
import { ORIGINAL_CREATED_FIELD } from '../../schemas/canonical.ts';
import { splitLinkedAttachments } from '../sdk/attachment-overflow.ts';
import type { ListedTicket } from '../sdk/contract.ts';
import type {
  Agent,
  AgentRole,
  AttachmentMeta,
  Comment,
  Contact,
  CustomFieldValue,
  CustomFieldValues,
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
import type {
  FdAgent,
  FdArticle,
  FdAttachment,
  FdCategory,
  FdCompany,
  FdContact,
  FdConversation,
  FdCustomFieldValue,
  FdFieldType,
  FdFolder,
  FdGroup,
  FdRole,
  FdTicket,
  FdTicketField,
} from './freshdesk.types.ts';

/** The custom ticket field the writer stamps each ticket with (`<platform>:<source id>`). */
export const STAMP_FIELD_LABEL = 'hdm_source_id';
export const STAMP_FIELD = `cf_${STAMP_FIELD_LABEL}`;

export const FD_STATUS = { open: 2, pending: 3, resolved: 4, closed: 5 } as const;
const STATUS_TO_CANONICAL: Record<number, TicketStatus> = { 2: 'open', 3: 'pending', 4: 'solved', 5: 'closed' };
const STATUS_TO_FD: Record<TicketStatus, number> = { new: 2, open: 2, pending: 3, hold: 3, solved: 4, closed: 5 };
const PRIORITY_TO_CANONICAL: Record<number, TicketPriority> = { 1: 'low', 2: 'normal', 3: 'high', 4: 'urgent' };
const PRIORITY_TO_FD: Record<TicketPriority, number> = { low: 1, normal: 2, high: 3, urgent: 4 };
/** Freshdesk's default `type` choices that have a canonical counterpart; `Task` is added by `prepare()`. */
export const TYPE_TO_FD: Record<TicketType, string> = { question: 'Question', incident: 'Incident', problem: 'Problem', task: 'Task' };
const TYPE_TO_CANONICAL: Record<string, TicketType> = Object.fromEntries(
  Object.entries(TYPE_TO_FD).map(([canonical, fd]) => [fd.toLowerCase(), canonical as TicketType]),
);

export function statusFromFd(status: number): TicketStatus {
  return STATUS_TO_CANONICAL[status] ?? 'open';
}
export function statusToFd(status: TicketStatus): number {
  return STATUS_TO_FD[status];
}
export function priorityFromFd(priority: number | null | undefined): TicketPriority | null {
  return priority == null ? null : (PRIORITY_TO_CANONICAL[priority] ?? null);
}
/** Freshdesk requires a priority; a ticket without one gets Low, Freshdesk's own default. */
export function priorityToFd(priority: TicketPriority | null): number {
  return priority === null ? 1 : PRIORITY_TO_FD[priority];
}
export function typeFromFd(type: string | null | undefined): TicketType | null {
  return type ? (TYPE_TO_CANONICAL[type.toLowerCase()] ?? null) : null;
}
export function typeToFd(type: TicketType | null): string | null {
  return type === null ? null : TYPE_TO_FD[type];
}

// ---------------------------------------------------------------------------------------------
// Ticket fields

/**
 * Freshdesk has no multi-select and no regex ticket field. A multi-select becomes a dropdown holding
 * its choices (API name `cf_<key>_hdm_multiselect`) plus a hidden paragraph field holding a ticket's
 * chosen labels one per line (`cf_<key>_hdm_multivalues`); a regex field becomes a text field named
 * `cf_<key>_hdm_regex`. Reading them back restores the canonical type, options and values.
 */
const TYPE_MARKERS: Partial<Record<TicketFieldType, string>> = { multiselect: '_hdm_multiselect', regex: '_hdm_regex' };
export const MULTIVALUES_MARKER = '_hdm_multivalues';

/** The hidden field that holds a multi-select's values on tickets. */
export function multiValuesFieldName(key: string): string {
  return fdNameFromLabel(`${key}${MULTIVALUES_MARKER}`);
}

const FD_FIELD_TYPES: Record<TicketFieldType, FdFieldType> = {
  text: 'custom_text',
  textarea: 'custom_paragraph',
  checkbox: 'custom_checkbox',
  date: 'custom_date',
  integer: 'custom_number',
  decimal: 'custom_decimal',
  dropdown: 'custom_dropdown',
  multiselect: 'custom_dropdown',
  regex: 'custom_text',
};
const CANONICAL_FIELD_TYPES: Record<string, TicketFieldType> = {
  custom_text: 'text',
  custom_paragraph: 'textarea',
  custom_checkbox: 'checkbox',
  custom_date: 'date',
  custom_number: 'integer',
  custom_decimal: 'decimal',
  custom_dropdown: 'dropdown',
};

export function fieldTypeToFd(type: TicketFieldType): FdFieldType {
  return FD_FIELD_TYPES[type];
}

/** Freshdesk derives a custom field's API name from the label it is created with: `cf_` + snake case. */
export function fdNameFromLabel(label: string): string {
  const snake = label
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return `cf_${snake || 'field'}`;
}

/** The label a field is created with so that its API name becomes `cf_<key>[marker]`. */
export function creationLabel(key: string, type: TicketFieldType): string {
  return `${key}${TYPE_MARKERS[type] ?? ''}`;
}

/** The API name a canonical field gets on Freshdesk. */
export function fdFieldName(key: string, type: TicketFieldType): string {
  return fdNameFromLabel(creationLabel(key, type));
}

/** Canonical key and type of a custom field from its Freshdesk name and type; null for fields that are not custom. */
export function parseFieldName(name: string, fdType: FdFieldType): { key: string; type: TicketFieldType } | null {
  const base = CANONICAL_FIELD_TYPES[fdType];
  if (!base) return null;
  let key = name.startsWith('cf_') ? name.slice(3) : name;
  let type: TicketFieldType = base;
  for (const [canonical, marker] of Object.entries(TYPE_MARKERS) as [TicketFieldType, string][]) {
    if (key.endsWith(marker) && fieldTypeToFd(canonical) === fdType) {
      key = key.slice(0, -marker.length);
      type = canonical;
    }
  }
  return { key, type };
}

/** Choice labels of a dropdown, whichever shape the endpoint returned them in. */
export function choiceLabels(choices: unknown): string[] {
  if (!Array.isArray(choices)) return [];
  return choices.flatMap((c) => {
    if (typeof c === 'string') return [c];
    if (c && typeof c === 'object' && 'value' in c) return [String((c as { value: unknown }).value)];
    return [];
  });
}

/** Fields the connector keeps for itself: the stamp and multi-select value holders. */
export function isStampField(field: Pick<FdTicketField, 'name'>): boolean {
  return field.name === STAMP_FIELD || field.name.endsWith(MULTIVALUES_MARKER);
}

/**
 * Fields the engine adds to the target for itself, left out of the ticketField stream: the stamp and
 * value holders, and the `original_created_at` date field (`options.originals`), whose values tickets
 * still carry.
 */
export function isEngineField(field: Pick<FdTicketField, 'name'>): boolean {
  return isStampField(field) || field.name === fdFieldName(ORIGINAL_CREATED_FIELD, 'date');
}

export function ticketFieldFromFd(field: FdTicketField): TicketField | null {
  if (field.default || isEngineField(field)) return null;
  const parsed = parseFieldName(field.name, field.type);
  if (!parsed) return null;
  const labels = parsed.type === 'dropdown' || parsed.type === 'multiselect' ? choiceLabels(field.choices) : [];
  return {
    sourceId: String(field.id),
    key: parsed.key,
    title: field.label,
    type: parsed.type,
    required: field.required_for_agents,
    active: true,
    options: labels.map((label) => ({ value: label, label })),
    pattern: null,
    createdAt: ts(field.created_at),
    updatedAt: ts(field.updated_at),
  };
}

/** Where a ticket's custom field values live on Freshdesk: canonical key → API name and type. */
export type FieldIndex = Map<string, { name: string; type: TicketFieldType }>;

export function fieldIndex(fields: FdTicketField[]): FieldIndex {
  const index: FieldIndex = new Map();
  for (const field of fields) {
    if (field.default || isStampField(field)) continue;
    const parsed = parseFieldName(field.name, field.type);
    if (parsed) index.set(parsed.key, { name: parsed.type === 'multiselect' ? multiValuesFieldName(parsed.key) : field.name, type: parsed.type });
  }
  return index;
}

function valueFromFd(value: FdCustomFieldValue | undefined, type: TicketFieldType | undefined): CustomFieldValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'multiselect':
      return String(value)
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'date':
      return String(value).slice(0, 10);
    case 'integer':
    case 'decimal':
      return typeof value === 'number' ? value : Number(value);
    case 'checkbox':
      return typeof value === 'boolean' ? value : value === 'true';
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

function valueToFd(value: CustomFieldValue, type: TicketFieldType): FdCustomFieldValue {
  if (value === null) return null;
  if (type === 'multiselect') return (Array.isArray(value) ? value : [String(value)]).join('\n') || null;
  if (Array.isArray(value)) return value.join('\n');
  return value;
}

/** A ticket's canonical custom field values, keyed by canonical key. */
export function customFieldsFromFd(values: Record<string, FdCustomFieldValue> | undefined, index: FieldIndex): CustomFieldValues {
  const byName = new Map<string, { key: string; type: TicketFieldType }>();
  for (const [key, def] of index) byName.set(def.name, { key, type: def.type });
  const out: CustomFieldValues = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    if (name === STAMP_FIELD || name.endsWith(TYPE_MARKERS.multiselect!)) continue;
    const def = byName.get(name);
    if (!def && name.endsWith(MULTIVALUES_MARKER)) continue;
    const key = def?.key ?? (name.startsWith('cf_') ? name.slice(3) : name);
    out[key] = valueFromFd(value, def?.type);
  }
  return out;
}

/** Freshdesk custom_fields for canonical values; keys the target does not have are returned in `unknown`. */
export function customFieldsToFd(values: CustomFieldValues, index: FieldIndex): { fields: Record<string, FdCustomFieldValue>; unknown: string[] } {
  const fields: Record<string, FdCustomFieldValue> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const def = index.get(key);
    if (!def) {
      if (value !== null) unknown.push(key);
      continue;
    }
    fields[def.name] = valueToFd(value, def.type);
  }
  return { fields, unknown };
}

// ---------------------------------------------------------------------------------------------
// Tickets

/** Canonical timestamps are `Date#toISOString()` strings (Freshdesk omits the milliseconds). */
export const ts = (value: string): string => (value ? new Date(value).toISOString() : value);

const id = (value: number | null | undefined): string | null => (value === null || value === undefined ? null : String(value));
export const num = (value: string | null): number | null => (value === null ? null : Number(value));

/** The canonical ID of the comment that carries a ticket's description. */
export function descriptionCommentId(ticketId: number | string): string {
  return `desc-${ticketId}`;
}

export function attachmentFromFd(a: FdAttachment): AttachmentMeta {
  return { sourceId: String(a.id), fileName: a.name, contentType: a.content_type, size: a.size, url: a.attachment_url, inline: false };
}

export function commentFromConversation(c: FdConversation): Comment {
  const { body, linked } = splitLinkedAttachments(c.body ?? '');
  return {
    sourceId: String(c.id),
    authorId: id(c.user_id),
    body,
    public: !c.private,
    createdAt: ts(c.created_at),
    attachments: [...(c.attachments ?? []).map(attachmentFromFd), ...linked],
  };
}

/** What a ticket list page says of a ticket, for `ReadOptions.only`. */
export function listedTicketFromFd(t: Pick<FdTicket, 'id' | 'updated_at' | 'status'>): ListedTicket {
  return { sourceId: String(t.id), updatedAt: ts(t.updated_at), status: statusFromFd(t.status) };
}

/** A whole ticket aggregate: the description as comment 0 (by the requester), then every conversation. */
export function ticketFromFd(t: FdTicket, conversations: FdConversation[], index: FieldIndex): Ticket {
  const { body, linked } = splitLinkedAttachments(t.description ?? '');
  const description: Comment = {
    sourceId: descriptionCommentId(t.id),
    authorId: id(t.requester_id),
    body,
    public: true,
    createdAt: ts(t.created_at),
    attachments: [...(t.attachments ?? []).map(attachmentFromFd), ...linked],
  };
  const rest = [...conversations]
    .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id))
    .map(commentFromConversation);
  return {
    sourceId: String(t.id),
    subject: t.subject ?? '',
    status: statusFromFd(t.status),
    priority: priorityFromFd(t.priority),
    type: typeFromFd(t.type),
    requesterId: id(t.requester_id),
    assigneeId: id(t.responder_id),
    groupId: id(t.group_id),
    organizationId: id(t.company_id),
    tags: t.tags ?? [],
    customFields: customFieldsFromFd(t.custom_fields, index),
    createdAt: ts(t.created_at),
    updatedAt: ts(t.updated_at),
    comments: [description, ...rest],
  };
}

export function ticketStamp(t: Pick<FdTicket, 'custom_fields'>): string | null {
  const value = t.custom_fields?.[STAMP_FIELD];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** The ticket body Freshdesk takes on create and update (without attachments and comments). */
export function ticketToFd(ticket: Ticket, index: FieldIndex, stamp: string | null): { body: Record<string, unknown>; unknownFields: string[] } {
  const { fields, unknown } = customFieldsToFd(ticket.customFields, index);
  if (stamp !== null) fields[STAMP_FIELD] = stamp;
  const description = ticket.comments[0]?.body ?? '';
  return {
    body: {
      subject: ticket.subject,
      description: description.length > 0 ? description : '<p></p>',
      status: statusToFd(ticket.status),
      priority: priorityToFd(ticket.priority),
      type: typeToFd(ticket.type),
      requester_id: num(ticket.requesterId),
      responder_id: num(ticket.assigneeId),
      group_id: num(ticket.groupId),
      company_id: num(ticket.organizationId),
      tags: ticket.tags,
      custom_fields: fields,
    },
    unknownFields: unknown,
  };
}

// ---------------------------------------------------------------------------------------------
// People and organisations

export function contactFromFd(c: FdContact): Contact {
  return {
    sourceId: String(c.id),
    name: c.name,
    email: c.email ?? null,
    phone: c.phone ?? c.mobile ?? null,
    organizationId: id(c.company_id),
    tags: c.tags ?? [],
    timeZone: c.time_zone ?? null,
    customFields: { ...(c.custom_fields ?? {}) } as CustomFieldValues,
    createdAt: ts(c.created_at),
    updatedAt: ts(c.updated_at),
  };
}

/**
 * Freshdesk API v2 reference: "The total size of these attachments cannot exceed 20MB" (Create a
 * Ticket) and "The total size of all of a ticket's attachments cannot exceed 20MB" (Conversations;
 * Create a Note: "not just this note"). The limit is the whole ticket's, description and conversations.
 */
export const FD_ATTACHMENTS_MAX_BYTES = 20 * 1024 * 1024;

export function contactToFd(c: Contact, stamp: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: c.name,
    email: c.email,
    phone: c.phone,
    company_id: num(c.organizationId),
    tags: c.tags,
  };
  if (Object.keys(c.customFields).length > 0) body.custom_fields = c.customFields;
  if (stamp !== null) body.unique_external_id = stamp;
  return body;
}

export function roleFromFd(agent: FdAgent, roles: Map<number, FdRole>): AgentRole {
  if (agent.type === 'collaborator') return 'light';
  const admin = agent.role_ids.some((r) => /administrator/i.test(roles.get(r)?.name ?? ''));
  return admin ? 'admin' : 'agent';
}

export function agentFromFd(a: FdAgent, roles: Map<number, FdRole>): Agent {
  return {
    sourceId: String(a.id),
    name: a.contact.name,
    email: a.contact.email,
    role: roleFromFd(a, roles),
    // Freshdesk's API has no deactivated agents: deleting an agent turns it into a contact.
    active: true,
    deleted: false,
    groupIds: (a.group_ids ?? []).map(String),
    timeZone: a.contact.time_zone ?? null,
    createdAt: ts(a.created_at),
    updatedAt: ts(a.updated_at),
  };
}

/** Role names Freshdesk ships with, to pick role_ids for a canonical role. */
export function roleIdsFor(role: AgentRole, roles: FdRole[]): number[] {
  const named = (pattern: RegExp) => roles.find((r) => pattern.test(r.name) && !/account/i.test(r.name)) ?? roles.find((r) => pattern.test(r.name));
  const wanted = role === 'admin' ? named(/^administrator$/i) : (named(/^agent$/i) ?? named(/agent/i));
  return wanted ? [wanted.id] : [];
}

export function agentToFd(a: Agent, roles: FdRole[]): Record<string, unknown> {
  return {
    name: a.name,
    email: a.email,
    ticket_scope: 1,
    occasional: false,
    agent_type: a.role === 'light' ? 3 : 1,
    role_ids: roleIdsFor(a.role, roles),
    group_ids: a.groupIds.map(Number),
  };
}

export function companyFromFd(c: FdCompany): Organization {
  return {
    sourceId: String(c.id),
    name: c.name,
    domains: c.domains ?? [],
    notes: c.note ?? null,
    tags: [],
    customFields: { ...(c.custom_fields ?? {}) } as CustomFieldValues,
    createdAt: ts(c.created_at),
    updatedAt: ts(c.updated_at),
  };
}

export function companyToFd(o: Organization): Record<string, unknown> {
  const body: Record<string, unknown> = { name: o.name, domains: o.domains, note: o.notes };
  if (Object.keys(o.customFields).length > 0) body.custom_fields = o.customFields;
  return body;
}

export function groupFromFd(g: FdGroup): Group {
  return { sourceId: String(g.id), name: g.name, description: g.description ?? null, createdAt: ts(g.created_at), updatedAt: ts(g.updated_at) };
}

export function groupToFd(g: Group): Record<string, unknown> {
  return { name: g.name, description: g.description };
}

// ---------------------------------------------------------------------------------------------
// Knowledge base

/** Freshdesk language codes whose canonical (lower-case BCP 47) form differs from plain lower case. */
const FD_LANGUAGE_TO_LOCALE: Record<string, string> = {
  en: 'en-us',
  'ja-JP': 'ja',
  'ru-RU': 'ru',
  'sv-SE': 'sv',
  'nb-NO': 'nb',
  'lv-LV': 'lv',
  'es-LA': 'es-419',
};
const LOCALE_TO_FD_LANGUAGE: Record<string, string> = Object.fromEntries(Object.entries(FD_LANGUAGE_TO_LOCALE).map(([fd, locale]) => [locale, fd]));

export function localeFromFd(language: string): string {
  return FD_LANGUAGE_TO_LOCALE[language] ?? language.toLowerCase();
}

/** The Freshdesk language code for a canonical locale, chosen among the account's languages when given. */
export function localeToFd(locale: string, available: readonly string[] = []): string {
  const lower = locale.toLowerCase();
  const direct = LOCALE_TO_FD_LANGUAGE[lower];
  if (direct) return direct;
  const exact = available.find((l) => l.toLowerCase() === lower);
  if (exact) return exact;
  const base = lower.split('-')[0];
  const sameBase = available.find((l) => l.toLowerCase().split('-')[0] === base);
  if (sameBase) return sameBase;
  const [lang, region] = lower.split('-');
  return region ? `${lang}-${region.toUpperCase()}` : lang;
}

export function categoryFromFd(c: FdCategory, locale: string, position: number): KbCategory {
  return { sourceId: String(c.id), name: c.name, description: c.description ?? null, locale, position, createdAt: ts(c.created_at), updatedAt: ts(c.updated_at) };
}

export function folderFromFd(f: FdFolder, categoryId: number, locale: string, position: number): KbSection {
  return {
    sourceId: String(f.id),
    categoryId: String(f.category_id ?? categoryId),
    name: f.name,
    description: f.description ?? null,
    locale,
    position,
    createdAt: ts(f.created_at),
    updatedAt: ts(f.updated_at),
  };
}

export const ARTICLE_DRAFT = 1;
export const ARTICLE_PUBLISHED = 2;

export function articleFromFd(a: FdArticle, locale: string, position: number, translations: { language: string; article: FdArticle }[]): KbArticle {
  return {
    sourceId: String(a.id),
    sectionId: String(a.folder_id),
    authorId: id(a.agent_id),
    locale,
    title: a.title,
    body: a.description ?? '',
    draft: a.status !== ARTICLE_PUBLISHED,
    tags: a.tags ?? [],
    position,
    createdAt: ts(a.created_at),
    updatedAt: ts(a.updated_at),
    translations: translations.map(({ language, article }): KbTranslation => ({
      locale: localeFromFd(language),
      title: article.title,
      body: article.description ?? '',
      draft: article.status !== ARTICLE_PUBLISHED,
      updatedAt: ts(article.updated_at),
    })),
  };
}

export function articleToFd(a: Pick<KbArticle, 'title' | 'body' | 'draft' | 'tags'>): Record<string, unknown> {
  return { title: a.title, description: a.body.length > 0 ? a.body : '<p></p>', status: a.draft ? ARTICLE_DRAFT : ARTICLE_PUBLISHED, tags: a.tags };
}
