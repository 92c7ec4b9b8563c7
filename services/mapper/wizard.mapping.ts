import type { AttachmentMeta, Comment, CustomFieldValue, CustomFieldValues, FieldOption, Group, Ticket, TicketField } from '../../schemas/canonical.ts';
import type { FiltersSection } from '../../schemas/mapping.config.ts';
import type { MapResult, MappingRules } from './rules.ts';

/** The first filter a ticket fails, as the rule the ledger records; null when it passes them all. */
export function ticketFilter(ticket: Ticket, filters: Readonly<FiltersSection> | undefined): string | null {
  if (!filters) return null;
  if (filters.ticketIds.length > 0 && !filters.ticketIds.includes(ticket.sourceId)) return 'filter:ticketIds';
  if (filters.createdFrom && ticket.createdAt < filters.createdFrom) return 'filter:createdFrom';
  if (filters.createdTo && ticket.createdAt >= filters.createdTo) return 'filter:createdTo';
  if (filters.updatedFrom && ticket.updatedAt < filters.updatedFrom) return 'filter:updatedFrom';
  if (filters.updatedTo && ticket.updatedAt >= filters.updatedTo) return 'filter:updatedTo';
  if (filters.statuses.length > 0 && !filters.statuses.includes(ticket.status)) return 'filter:statuses';
  const tags = new Set(ticket.tags.map((t) => t.toLowerCase()));
  if (filters.tags.length > 0 && !filters.tags.some((t) => tags.has(t.toLowerCase()))) return 'filter:tags';
  if (filters.excludeTags.some((t) => tags.has(t.toLowerCase()))) return 'filter:excludeTags';
  return null;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Inline images become ordinary attachments; the body keeps a note where each image was. */
export function inlineAsAttachments(comment: Comment, notes: string[]): Comment {
  if (!comment.attachments.some((a) => a.inline)) return comment;
  let body = comment.body;
  for (const a of comment.attachments) {
    if (!a.inline) continue;
    for (const ref of [`inline:${a.sourceId}`, a.url].filter((r) => r)) {
      body = body.replace(new RegExp(`<img[^>]*src=["']${escapeRegExp(ref)}["'][^>]*>`, 'gi'), `[image: ${a.fileName}]`);
    }
  }
  notes.push(`comment ${comment.sourceId}: inline images carried as attachments`);
  return { ...comment, body, attachments: comment.attachments.map((a) => (a.inline ? { ...a, inline: false } : a)) };
}

/**
 * A comment whose attachments exceed what the target takes per comment keeps the first that fit; the
 * rest follow in continuation comments right after it (same author, visibility and time), each within
 * the limit. A single file over the limit still travels alone: the writer names it when it refuses it.
 */
export function splitAttachments(comment: Comment, limit: number, notes: string[]): Comment[] {
  const total = comment.attachments.reduce((sum, a) => sum + a.size, 0);
  if (total <= limit) return [comment];
  const batches: AttachmentMeta[][] = [[]];
  let used = 0;
  for (const a of comment.attachments) {
    if (used + a.size > limit && batches[batches.length - 1].length > 0) {
      batches.push([]);
      used = 0;
    }
    batches[batches.length - 1].push(a);
    used += a.size;
  }
  if (batches.length === 1) return [comment];
  notes.push(`comment ${comment.sourceId}: ${(total / 1048576).toFixed(1)} MB of attachments split across ${batches.length} comments of at most ${(limit / 1048576).toFixed(0)} MB`);
  return batches.map((attachments, i) =>
    i === 0
      ? { ...comment, attachments }
      : {
          ...comment,
          sourceId: `${comment.sourceId}#attachments-${i + 1}`,
          body: `<p>Attachments of the message above, continued (${i + 1} of ${batches.length}): ${attachments.map((a) => escapeHtml(a.fileName)).join(', ')}</p>`,
          attachments,
        },
  );
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function mapValue(value: CustomFieldValue, map: Readonly<Record<string, string>> | undefined): CustomFieldValue {
  if (!map) return value;
  if (typeof value === 'string') return map[value] ?? value;
  if (Array.isArray(value)) return [...new Set(value.map((v) => map[v] ?? v))];
  return value;
}

const isEmpty = (value: CustomFieldValue | undefined) => value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);

/** Renames, drops and value-maps a ticket's custom field values, then fills the defaults. */
export function mapCustomFieldValues(values: CustomFieldValues, rules: MappingRules, notes: string[]): CustomFieldValues {
  const out: CustomFieldValues = {};
  for (const [key, value] of Object.entries(values)) {
    const mapped = rules.fieldMap && key in rules.fieldMap ? rules.fieldMap[key] : key;
    if (mapped === null) continue;
    out[mapped] = mapValue(value, rules.valueMaps?.[key]);
  }
  for (const [key, value] of Object.entries(rules.fieldDefaults ?? {})) {
    if (isEmpty(out[key])) {
      out[key] = value;
      notes.push(`customFields.${key}: default ${JSON.stringify(value)}`);
    }
  }
  return out;
}

function mapOptions(options: FieldOption[], map: Readonly<Record<string, string>> | undefined): FieldOption[] {
  if (!map) return options;
  const seen = new Set<string>();
  const out: FieldOption[] = [];
  for (const o of options) {
    const label = map[o.label] ?? o.label;
    if (seen.has(label)) continue;
    seen.add(label);
    out.push(label === o.label ? o : { value: label, label });
  }
  return out;
}

/**
 * A source field definition as the target should have it. A field mapped onto another target field
 * is not written (the target's own definition stays); `targetFieldDefinitions` still hands it to the
 * writer's prepare() so that mapped option labels exist there.
 */
export function mapTicketField(field: TicketField, rules: MappingRules): MapResult<'ticketField'> {
  const mapped = rules.fieldMap && field.key in rules.fieldMap ? rules.fieldMap[field.key] : field.key;
  if (mapped === null) return { kind: 'filtered', rule: 'mapping.fields:left-behind' };
  if (mapped !== field.key) return { kind: 'filtered', rule: `mapping.fields:onto-${mapped}` };
  return { kind: 'planned', record: { ...field, options: mapOptions(field.options, rules.valueMaps?.[field.key]) }, notes: [] };
}

/** Field definitions to hand the target's prepare(): every field that carries values, under its target key. */
export function targetFieldDefinitions(fields: TicketField[], rules: MappingRules): TicketField[] {
  return fields.flatMap((field) => {
    const mapped = rules.fieldMap && field.key in rules.fieldMap ? rules.fieldMap[field.key] : field.key;
    if (mapped === null) return [];
    return [{ ...field, key: mapped, options: mapOptions(field.options, rules.valueMaps?.[field.key]) }];
  });
}

export function mapGroup(group: Group, rules: MappingRules): MapResult<'group'> {
  if (!rules.groupMap || !(group.name in rules.groupMap)) return { kind: 'planned', record: group, notes: [] };
  const name = rules.groupMap[group.name];
  if (name === null) return { kind: 'filtered', rule: 'mapping.groups:left-behind' };
  return { kind: 'planned', record: { ...group, name }, notes: name === group.name ? [] : [`group ${group.name} → ${name}`] };
}
