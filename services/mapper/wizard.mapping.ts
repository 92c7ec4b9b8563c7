import type { AttachmentMeta, Comment, CustomFieldValue, CustomFieldValues, FieldOption, Group, KbArticle, Ticket, TicketField } from '../../schemas/canonical.ts';
import { sanitizeBody } from '../../schemas/html-sanitize.ts';
import { ORIGINAL_CREATED_FIELD } from '../../schemas/config.ts';
import { transformNote } from './transforms.ts';
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

/**
 * A `cid:` reference means nothing outside the email it came in: where it names one of the comment's
 * attachments (by file name), it becomes the canonical `inline:<attachment id>` and the attachment an
 * inline image. One that names none is left for the sanitizer, which removes it and says so.
 */
export function linkContentIds(comment: Comment): Comment {
  if (!comment.body.includes('cid:')) return comment;
  let body = comment.body;
  const linked = new Set<string>();
  for (const a of comment.attachments) {
    for (const name of new Set([a.fileName, encodeURIComponent(a.fileName)])) {
      for (const quote of ['"', "'"]) {
        const ref = `${quote}cid:${name}${quote}`;
        if (!body.includes(ref)) continue;
        body = body.split(ref).join(`${quote}inline:${a.sourceId}${quote}`);
        linked.add(a.sourceId);
      }
    }
  }
  if (linked.size === 0) return comment;
  return { ...comment, body, attachments: comment.attachments.map((a) => (linked.has(a.sourceId) ? { ...a, inline: true } : a)) };
}

/** A comment body as the target renders it; what was removed is named in the notes. */
export function sanitizeComment(comment: Comment, notes: string[]): Comment {
  const { html, removed } = sanitizeBody(comment.body);
  if (removed.length === 0) return comment;
  notes.push(transformNote('sanitized', `comment ${comment.sourceId}: removed ${removed.join(', ')}`));
  return { ...comment, body: html };
}

/** An article's body and each translation's, as the target renders them. */
export function sanitizeArticle(article: KbArticle, notes: string[]): KbArticle {
  const body = sanitizeBody(article.body);
  if (body.removed.length > 0) notes.push(transformNote('sanitized', `article ${article.sourceId}: removed ${body.removed.join(', ')}`));
  const translations = article.translations.map((t) => {
    const clean = sanitizeBody(t.body);
    if (clean.removed.length === 0) return t;
    notes.push(transformNote('sanitized', `article ${article.sourceId} (${t.locale}): removed ${clean.removed.join(', ')}`));
    return { ...t, body: clean.html };
  });
  return { ...article, body: body.html, translations };
}

const inlineRefs = (a: AttachmentMeta) => [`inline:${a.sourceId}`, a.url].filter((r) => r);

/**
 * Inline images the body shows. Where the target takes inline images, its writer points them at the
 * uploaded copies (counted here as re-linked); where it does not (or by option), they become ordinary
 * attachments and the body keeps a note where each image was.
 */
export function inlineAsAttachments(comment: Comment, notes: string[], asAttachments = true): Comment {
  const inline = comment.attachments.filter((a) => a.inline);
  if (inline.length === 0) return comment;
  if (!asAttachments) {
    const shown = inline.filter((a) => inlineRefs(a).some((ref) => comment.body.includes(ref)));
    if (shown.length > 0) notes.push(transformNote('inline-relinked', `comment ${comment.sourceId}: ${shown.length} inline image(s) re-linked to their uploaded copies`));
    return comment;
  }
  let body = comment.body;
  for (const a of inline) {
    for (const ref of inlineRefs(a)) {
      body = body.replace(new RegExp(`<img[^>]*src=["']${escapeRegExp(ref)}["'][^>]*>`, 'gi'), `[image: ${escapeHtml(a.fileName)}]`);
    }
  }
  notes.push(transformNote('inline-as-attachment', `comment ${comment.sourceId}: ${inline.length} inline image(s) carried as attachments`));
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
  notes.push(transformNote('split', `comment ${comment.sourceId}: ${(total / 1048576).toFixed(1)} MB of attachments split across ${batches.length} comments of at most ${(limit / 1048576).toFixed(0)} MB`));
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
      notes.push(transformNote('field-default', `customFields.${key}: default ${JSON.stringify(value)}`));
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
  const out = fields.flatMap((field) => {
    const mapped = rules.fieldMap && field.key in rules.fieldMap ? rules.fieldMap[field.key] : field.key;
    if (mapped === null) return [];
    return [{ ...field, key: mapped, options: mapOptions(field.options, rules.valueMaps?.[field.key]) }];
  });
  if (rules.capabilities.setsOwnTimes && rules.originals?.field && !out.some((f) => f.key === ORIGINAL_CREATED_FIELD)) out.push(ORIGINAL_CREATED_DEFINITION);
  return out;
}

/** The date field the engine creates on a target that sets its own times, for each ticket's original creation date. */
export const ORIGINAL_CREATED_DEFINITION: TicketField = {
  sourceId: ORIGINAL_CREATED_FIELD,
  key: ORIGINAL_CREATED_FIELD,
  title: 'Original created at',
  type: 'date',
  required: false,
  active: true,
  options: [],
  pattern: null,
  createdAt: '1970-01-01T00:00:00.000Z',
  updatedAt: '1970-01-01T00:00:00.000Z',
};

export function mapGroup(group: Group, rules: MappingRules): MapResult<'group'> {
  if (!rules.groupMap || !(group.name in rules.groupMap)) return { kind: 'planned', record: group, notes: [] };
  const name = rules.groupMap[group.name];
  if (name === null) return { kind: 'filtered', rule: 'mapping.groups:left-behind' };
  return { kind: 'planned', record: { ...group, name }, notes: name === group.name ? [] : [`group ${group.name} → ${name}`] };
}
