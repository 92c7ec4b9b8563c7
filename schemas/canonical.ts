/**
 * The canonical helpdesk model: every connector reads into it and writes from it.
 * IDs are the *source* platform's IDs, as strings. Timestamps are ISO-8601 UTC strings.
 * The Avro schemas in `avro.ts` describe the same shapes for the wire; a test pins them together.
 */

export const ENTITIES = [
  'group',
  'agent',
  'organization',
  'contact',
  'ticketField',
  'ticket',
  'kbCategory',
  'kbSection',
  'kbArticle',
] as const;
export type EntityName = (typeof ENTITIES)[number];

/** Entities counted as billable by `hdm estimate` (comments, notes, attachments are not). */
export const BILLABLE_ENTITIES: readonly EntityName[] = [
  'ticket',
  'contact',
  'agent',
  'organization',
  'group',
  'kbCategory',
  'kbSection',
  'kbArticle',
];

/**
 * A custom field value as it travels. Dropdown values are the chosen option's *label* and
 * multi-selects arrays of labels (labels are what every platform shares; tag values are not).
 * Dates are `YYYY-MM-DD`, decimals and integers numbers, checkboxes booleans.
 */
export type CustomFieldValue = string | number | boolean | string[] | null;
export type CustomFieldValues = Record<string, CustomFieldValue>;

export interface Group {
  sourceId: string;
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export type AgentRole = 'admin' | 'agent' | 'light';

export interface Agent {
  sourceId: string;
  name: string;
  email: string;
  role: AgentRole;
  /** false for deactivated agents */
  active: boolean;
  /** true when the platform keeps the agent only as a deleted stub */
  deleted: boolean;
  groupIds: string[];
  timeZone: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Organization {
  sourceId: string;
  name: string;
  domains: string[];
  notes: string | null;
  tags: string[];
  customFields: CustomFieldValues;
  createdAt: string;
  updatedAt: string;
}

export interface Contact {
  sourceId: string;
  name: string;
  /** Contacts may lack an email (phone-only, social); writers must handle that. */
  email: string | null;
  phone: string | null;
  organizationId: string | null;
  tags: string[];
  timeZone: string | null;
  customFields: CustomFieldValues;
  createdAt: string;
  updatedAt: string;
}

export const TICKET_FIELD_TYPES = [
  'text',
  'textarea',
  'checkbox',
  'date',
  'integer',
  'decimal',
  'dropdown',
  'multiselect',
  'regex',
] as const;
export type TicketFieldType = (typeof TICKET_FIELD_TYPES)[number];

export interface FieldOption {
  value: string;
  label: string;
}

/**
 * Key of the custom date field the engine creates on a target that sets its own times, holding each
 * ticket's original creation date (`options.originals`).
 */
export const ORIGINAL_CREATED_FIELD = 'original_created_at';

/** A custom ticket field definition. System fields (status, priority…) are not ticket fields. */
export interface TicketField {
  sourceId: string;
  /** Stable machine key, e.g. `order_number`; values on tickets are keyed by it. */
  key: string;
  title: string;
  type: TicketFieldType;
  required: boolean;
  active: boolean;
  options: FieldOption[];
  /** Only for `regex` fields. */
  pattern: string | null;
  createdAt: string;
  updatedAt: string;
}

export const TICKET_STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type TicketPriority = (typeof TICKET_PRIORITIES)[number];
export const TICKET_TYPES = ['question', 'incident', 'problem', 'task'] as const;
export type TicketType = (typeof TICKET_TYPES)[number];

export interface AttachmentMeta {
  sourceId: string;
  fileName: string;
  contentType: string;
  size: number;
  /** Where the source serves the bytes; readers fill it, writers download through the source connector. */
  url: string;
  /** true for images embedded in the body */
  inline: boolean;
}

export interface Comment {
  sourceId: string;
  authorId: string | null;
  /** HTML body */
  body: string;
  /** false for private / internal notes */
  public: boolean;
  createdAt: string;
  attachments: AttachmentMeta[];
}

/** A ticket with its whole conversation: the unit that moves. */
export interface Ticket {
  sourceId: string;
  subject: string;
  status: TicketStatus;
  /**
   * The source platform's own name for the status when it has more than the canonical ones (RT
   * lifecycles), so `statusMap` can map custom statuses one by one. Absent or null: `status` says all.
   */
  sourceStatus?: string | null;
  /**
   * true when `sourceStatus` is a custom status the source counts as done (an inactive RT status) and
   * the ticket reads as closed for that reason: the report counts these. Absent or null: not so.
   */
  closedByInactivity?: boolean | null;
  priority: TicketPriority | null;
  type: TicketType | null;
  requesterId: string | null;
  assigneeId: string | null;
  groupId: string | null;
  organizationId: string | null;
  tags: string[];
  customFields: CustomFieldValues;
  createdAt: string;
  updatedAt: string;
  /** The first comment is the ticket's description. Ordered by createdAt. */
  comments: Comment[];
}

export interface KbCategory {
  sourceId: string;
  name: string;
  description: string | null;
  locale: string;
  position: number;
  createdAt: string;
  updatedAt: string;
}

export interface KbSection {
  sourceId: string;
  categoryId: string;
  name: string;
  description: string | null;
  locale: string;
  position: number;
  createdAt: string;
  updatedAt: string;
}

export interface KbTranslation {
  locale: string;
  title: string;
  /** HTML body */
  body: string;
  draft: boolean;
  updatedAt: string;
}

export interface KbArticle {
  sourceId: string;
  sectionId: string;
  authorId: string | null;
  /** The source locale of the article. */
  locale: string;
  title: string;
  body: string;
  draft: boolean;
  tags: string[];
  position: number;
  createdAt: string;
  updatedAt: string;
  /** Translations other than the source locale. */
  translations: KbTranslation[];
}

export interface EntityTypes {
  group: Group;
  agent: Agent;
  organization: Organization;
  contact: Contact;
  ticketField: TicketField;
  ticket: Ticket;
  kbCategory: KbCategory;
  kbSection: KbSection;
  kbArticle: KbArticle;
}

export type AnyRecord = EntityTypes[EntityName];

/** A record on the bus: one canonical record, or the deletion of one. */
export type Envelope<E extends EntityName = EntityName> =
  | {
      entity: E;
      op: 'upsert';
      sourceId: string;
      updatedAt: string;
      record: EntityTypes[E];
      /** The source-ID stamp this record carries on its own platform (external_id, a custom field), if any. */
      stamp?: string | null;
    }
  | { entity: E; op: 'delete'; sourceId: string; updatedAt: string; record: null };

/**
 * References between entities, in load order. A record is loaded after the records it references,
 * so the loader can translate source IDs into target IDs through the id map.
 */
export const LOAD_ORDER: readonly EntityName[] = ENTITIES;

export function isEntityName(value: string): value is EntityName {
  return (ENTITIES as readonly string[]).includes(value);
}
