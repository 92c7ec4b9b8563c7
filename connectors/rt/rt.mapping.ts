import type { CustomFieldValue, TicketField, TicketFieldType, TicketPriority, TicketStatus, TicketType } from '../../schemas/canonical.ts';
import { TICKET_TYPES } from '../../schemas/canonical.ts';

/**
 * Pure translations between RT's vocabulary and the canonical model. RT's default lifecycle has
 * new, open, stalled, resolved, rejected, deleted:
 *
 * | RT        | canonical | canonical → RT |
 * |-----------|-----------|----------------|
 * | new       | new       | new            |
 * | open      | open      | open           |
 * | stalled   | pending   | pending, hold → stalled (hold is not a target status) |
 * | resolved  | solved    | solved, closed → resolved (closed is not a target status) |
 * | rejected  | closed    | —              |
 * | deleted   | (a delete envelope; REST2 never lists deleted tickets) | — |
 * | any other, inactive in its lifecycle | closed | — |
 * | any other, active | open | — |
 *
 * Custom lifecycles name their own statuses; the ticket keeps RT's name as `sourceStatus`, so a
 * migration's `statusMap` can map each one.
 */
export const RT_TO_STATUS: Record<string, TicketStatus> = {
  new: 'new',
  open: 'open',
  stalled: 'pending',
  resolved: 'solved',
  rejected: 'closed',
};

export const STATUS_TO_RT: Record<TicketStatus, string> = {
  new: 'new',
  open: 'open',
  pending: 'stalled',
  hold: 'stalled',
  solved: 'resolved',
  closed: 'resolved',
};

/** Statuses the RT writer round-trips exactly. */
export const RT_TARGET_STATUSES: readonly TicketStatus[] = ['new', 'open', 'pending', 'solved'];

/** RT's own statuses, as its default lifecycle names them. */
export const RT_DEFAULT_STATUSES = ['new', 'open', 'stalled', 'resolved', 'rejected'] as const;

/** A status of a custom lifecycle reads as closed when the lifecycle counts it inactive (done), else open. */
export function statusFromRt(status: string, inactive = false): TicketStatus {
  return Object.hasOwn(RT_TO_STATUS, status) ? RT_TO_STATUS[status] : inactive ? 'closed' : 'open';
}

/** A string literal in TicketSQL. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * RT priorities are integers 0–99+ (labels Low 0 / Medium 50 / High 100 by default). 0 is RT's
 * "unset" default and reads as no priority.
 */
export const PRIORITY_TO_RT: Record<TicketPriority, number> = { low: 20, normal: 50, high: 80, urgent: 100 };

export function priorityFromRt(value: string | number | null | undefined): TicketPriority | null {
  const n = Number(value ?? 0);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n < 35) return 'low';
  if (n < 65) return 'normal';
  if (n < 90) return 'high';
  return 'urgent';
}

export function priorityToRt(priority: TicketPriority | null): number {
  return priority === null ? 0 : PRIORITY_TO_RT[priority];
}

export function typeFromRt(values: string[] | undefined): TicketType | null {
  const v = values?.[0]?.toLowerCase();
  return v && (TICKET_TYPES as readonly string[]).includes(v) ? (v as TicketType) : null;
}

/** Ticket custom fields the connector uses for canonical fields RT lacks; never read as ticket fields. */
export const RT_SOURCE_ID_FIELD = 'HDM Source ID';
export const RT_TAGS_FIELD = 'Tags';
export const RT_TYPE_FIELD = 'Ticket Type';
export const RT_INTERNAL_FIELDS = new Set([RT_SOURCE_ID_FIELD, RT_TAGS_FIELD, RT_TYPE_FIELD]);

/** A ticket custom field definition as REST2 returns it. */
export interface RtCustomField {
  id: number | string;
  Name: string;
  Type: string;
  MaxValues: string | number;
  Description?: string;
  Pattern?: string;
  Disabled?: string | number;
  LookupType?: string;
  Created?: string;
  LastUpdated?: string;
  Values?: string[];
}

const META = /\bhdm:key=([^\s;]+);type=([a-z]+)/;

/** What the writer keeps in an RT field's Description: the canonical key and type, which RT has no place for. */
export function fieldMeta(key: string, type: TicketFieldType): string {
  return `hdm:key=${key};type=${type}`;
}

export function slugKey(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_|_$/g, '') || 'field'
  );
}

/** RT type (Type + MaxValues) for a canonical field type. Numbers and checkboxes are validated freeform/select fields. */
export function rtFieldType(type: TicketFieldType): { Type: string; MaxValues: number; Pattern: string; values: string[] } {
  switch (type) {
    case 'text':
      return { Type: 'Freeform', MaxValues: 1, Pattern: '', values: [] };
    case 'textarea':
      return { Type: 'Text', MaxValues: 1, Pattern: '', values: [] };
    case 'checkbox':
      return { Type: 'Select', MaxValues: 1, Pattern: '', values: ['true', 'false'] };
    case 'date':
      return { Type: 'Date', MaxValues: 1, Pattern: '', values: [] };
    case 'integer':
      return { Type: 'Freeform', MaxValues: 1, Pattern: allowEmpty('^-?\\d+$'), values: [] };
    case 'decimal':
      return { Type: 'Freeform', MaxValues: 1, Pattern: allowEmpty('^-?\\d+(\\.\\d+)?$'), values: [] };
    case 'dropdown':
      return { Type: 'Select', MaxValues: 1, Pattern: '', values: [] };
    case 'multiselect':
      return { Type: 'Select', MaxValues: 0, Pattern: '', values: [] };
    case 'regex':
      return { Type: 'Freeform', MaxValues: 1, Pattern: '', values: [] };
  }
}

/**
 * REST2 (5.0.3) cannot clear a single-value field: null arrives as an empty string, which a pattern
 * then rejects. Patterns the writer sets accept the empty string, so '' clears.
 */
export function allowEmpty(pattern: string): string {
  return pattern ? `^$|(?:${pattern})` : '';
}

export function originalPattern(pattern: string | undefined): string | null {
  if (!pattern) return null;
  const m = pattern.match(/^\^\$\|\(\?:(.*)\)$/s);
  return m ? m[1] : pattern;
}

/** The canonical type of an RT field: from the writer's note when present, else from RT's own type. */
export function canonicalFieldType(cf: RtCustomField): TicketFieldType | null {
  const meta = cf.Description?.match(META);
  if (meta) return meta[2] as TicketFieldType;
  const single = Number(cf.MaxValues) === 1;
  switch (cf.Type) {
    case 'Freeform':
      return cf.Pattern ? 'regex' : 'text';
    case 'Text':
    case 'Wikitext':
      return 'textarea';
    case 'Select':
    case 'Autocomplete':
    case 'Combobox':
      return single || cf.Type === 'Combobox' ? 'dropdown' : 'multiselect';
    case 'Date':
      return 'date';
    case 'DateTime':
      return 'text';
    default:
      // Binary, Image, IPAddress ranges: nothing canonical to hold them.
      return null;
  }
}

/** The description of a field copy that two writers created at once and that lost to field `winner` (rt.writer createField). */
export function duplicateMeta(winner: string): string {
  return `${DUPLICATE_MARKER}${winner}`;
}

const DUPLICATE_MARKER = 'hdm:duplicate-of=';

export function isDuplicateField(cf: Pick<RtCustomField, 'Description'>): boolean {
  return cf.Description?.startsWith(DUPLICATE_MARKER) ?? false;
}

export function fieldKey(cf: RtCustomField): string {
  return cf.Description?.match(META)?.[1] ?? slugKey(cf.Name);
}

export function ticketFieldFromRt(cf: RtCustomField): TicketField | null {
  const type = canonicalFieldType(cf);
  if (!type) return null;
  const options = type === 'dropdown' || type === 'multiselect' ? (cf.Values ?? []).map((v) => ({ value: v, label: v })) : [];
  return {
    sourceId: String(cf.id),
    key: fieldKey(cf),
    title: cf.Name,
    type,
    required: false,
    active: String(cf.Disabled ?? '0') === '0',
    options,
    pattern: type === 'regex' ? originalPattern(cf.Pattern) : null,
    createdAt: rtTime(cf.Created),
    updatedAt: rtTime(cf.LastUpdated ?? cf.Created),
  };
}

/** RT values (always strings) to the canonical value of a field of `type`. */
export function valueFromRt(type: TicketFieldType, all: string[]): CustomFieldValue {
  // '' is what clearing leaves behind; an epoch date is RT's "not set".
  const values = all.filter((v) => v !== '' && !(type === 'date' && v.startsWith('1970-01-01')));
  if (values.length === 0) return null;
  const v = values[0];
  switch (type) {
    case 'multiselect':
      return [...values];
    case 'checkbox':
      return v === 'true' || v === '1' || v.toLowerCase() === 'yes';
    case 'integer': {
      const n = Number.parseInt(v, 10);
      return Number.isFinite(n) ? n : v;
    }
    case 'decimal': {
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }
    case 'date':
      return v.slice(0, 10);
    default:
      return v;
  }
}

/** A canonical value to what REST2 accepts in `CustomFields` (null clears). */
export function valueToRt(value: CustomFieldValue): string | string[] | null {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return String(value);
}

/** REST2 times are `2026-01-02T03:04:05Z`; RT's "unset" is the epoch. */
export function rtTime(value: string | undefined | null): string {
  if (!value || value.startsWith('1970-01-01')) return new Date(0).toISOString();
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString().replace(/\.\d{3}Z$/, '.000Z');
}

/** RT's SQL datetime (UTC) for an ISO instant. */
export function sqlTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A text/plain body as HTML. */
export function plainToHtml(text: string): string {
  const trimmed = text.replace(/\s+$/, '');
  return trimmed ? `<p>${escapeHtml(trimmed).replace(/\r?\n/g, '<br>')}</p>` : '';
}
