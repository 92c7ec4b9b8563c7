import { createHash } from 'node:crypto';
import type { CustomFieldValues, EntityName, EntityTypes } from './canonical.ts';
import { activeContent } from './html-sanitize.ts';

/**
 * The projection of a record that reconciliation compares: what a migration promises to carry,
 * normalised so that harmless platform differences (markup, order of sets, ID fields) do not count.
 * The loader checksums the planned record; the verifier checksums what the target gives back.
 */
export type Projection = Record<string, unknown>;

/** HTML to comparable text: tags dropped, common entities decoded, whitespace folded. */
export function htmlText(html: string | null): string {
  if (!html) return '';
  return html
    .replace(/<(br|\/p|\/div|\/li|\/h\d)\s*\/?>/gi, ' ')
    .replace(/<img[^>]*>/gi, ' ')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

const sorted = (values: string[]) => [...values].sort();

/**
 * Scripts, handlers and the like left in a body, or undefined (absent from the checksum) when there
 * are none: every planned body is sanitized, so a target copy that still carries them differs.
 */
const active = (html: string | null) => {
  const found = activeContent(html);
  return found.length > 0 ? found : undefined;
};
const lower = (value: string | null) => (value === null ? null : value.toLowerCase());

function fields(values: CustomFieldValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(values).sort()) {
    const value = values[key];
    if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) continue;
    out[key] = Array.isArray(value) ? sorted(value) : value;
  }
  return out;
}

const projectors: { [E in EntityName]: (r: EntityTypes[E]) => Projection } = {
  group: (r) => ({ name: r.name, description: r.description ?? '' }),
  agent: (r) => ({ name: r.name, email: lower(r.email) }),
  organization: (r) => ({ name: r.name, domains: sorted(r.domains), notes: r.notes ?? '', tags: sorted(r.tags), customFields: fields(r.customFields) }),
  contact: (r) => ({
    name: r.name,
    email: lower(r.email),
    phone: r.phone,
    organizationId: r.organizationId,
    tags: sorted(r.tags),
    customFields: fields(r.customFields),
  }),
  ticketField: (r) => ({ key: r.key, title: r.title, type: r.type, options: sorted(r.options.map((o) => o.label)) }),
  ticket: (r) => ({
    subject: r.subject,
    status: r.status,
    priority: r.priority,
    type: r.type,
    requesterId: r.requesterId,
    assigneeId: r.assigneeId,
    groupId: r.groupId,
    organizationId: r.organizationId,
    tags: sorted(r.tags),
    customFields: fields(r.customFields),
    createdAt: r.createdAt,
    comments: r.comments.map((c) => ({
      authorId: c.authorId,
      body: htmlText(c.body),
      active: active(c.body),
      public: c.public,
      createdAt: c.createdAt,
      attachments: c.attachments.map((a) => ({ fileName: a.fileName, size: a.size, inline: a.inline })).sort((a, b) => a.fileName.localeCompare(b.fileName)),
    })),
  }),
  kbCategory: (r) => ({ name: r.name, description: r.description ?? '' }),
  kbSection: (r) => ({ categoryId: r.categoryId, name: r.name, description: r.description ?? '' }),
  kbArticle: (r) => ({
    sectionId: r.sectionId,
    authorId: r.authorId,
    locale: r.locale,
    title: r.title,
    body: htmlText(r.body),
    active: active(r.body),
    draft: r.draft,
    tags: sorted(r.tags),
    translations: [...r.translations]
      .sort((a, b) => a.locale.localeCompare(b.locale))
      .map((t) => ({ locale: t.locale, title: t.title, body: htmlText(t.body), active: active(t.body), draft: t.draft })),
  }),
};

/**
 * Removes a dotted path from a projection, in place. A name descends through every element of an
 * array; a numeric segment (`comments.0.authorId`) picks that element only, for limitations that hold
 * for one position, like a description the target always attributes to the requester.
 */
function dropPath(value: unknown, path: string[]): void {
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    if (/^\d+$/.test(head)) {
      if (rest.length > 0) dropPath(value[Number(head)], rest);
      return;
    }
    for (const item of value) dropPath(item, path);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  if (rest.length === 0) delete obj[head];
  else dropPath(obj[head], rest);
}

/**
 * True when a difference at `path` (as `diffProjections` names it, e.g. `comments.0.authorId`) lies
 * under the unpreserved `field` (e.g. `comments.authorId` or `comments.0.authorId`): a field without an
 * index covers every element, one with an index only that element.
 */
export function pathUnder(path: string, field: string): boolean {
  const got = path.split('.');
  const want = field.split('.');
  let i = 0;
  for (const segment of want) {
    while (i < got.length && /^\d+$/.test(got[i]) && !/^\d+$/.test(segment)) i += 1;
    if (got[i] !== segment) return false;
    i += 1;
  }
  return true;
}

/**
 * Where a projection holds active content (`comments.3: <script>`): a defect in a target's copy
 * whatever was planned, since every planned body is sanitized.
 */
export function activePaths(projection: Projection, path = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(projection)) {
    if (key === 'active' && Array.isArray(value)) out.push(`${path || '.'}: ${value.join(', ')}`);
    else if (Array.isArray(value)) value.forEach((v, i) => v && typeof v === 'object' && out.push(...activePaths(v as Projection, `${path ? `${path}.` : ''}${key}.${i}`)));
  }
  return out;
}

/** The projection of a record, less the fields the target cannot preserve. */
export function project<E extends EntityName>(entity: E, record: EntityTypes[E], unpreserved: readonly string[] = []): Projection {
  const projection = (projectors[entity] as (r: EntityTypes[E]) => Projection)(record);
  for (const path of unpreserved) dropPath(projection, path.split('.'));
  return projection;
}

/** JSON with object keys in sorted order, so equal projections always serialise alike. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function checksum(projection: Projection): string {
  return createHash('sha256').update(stableStringify(projection)).digest('hex').slice(0, 32);
}

/** Field-by-field differences between two projections, as dotted paths. */
export function diffProjections(expected: unknown, actual: unknown, path = ''): { path: string; expected: unknown; actual: unknown }[] {
  if (stableStringify(expected) === stableStringify(actual)) return [];
  const bothObjects =
    expected !== null && actual !== null && typeof expected === 'object' && typeof actual === 'object' && Array.isArray(expected) === Array.isArray(actual);
  if (!bothObjects) return [{ path: path || '.', expected, actual }];
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length !== actual.length) {
    const out: { path: string; expected: unknown; actual: unknown }[] = [{ path: `${path}.length`.replace(/^\./, ''), expected: expected.length, actual: actual.length }];
    // Lists of records (attachments): name the ones only one side has, not just the count.
    if ([...expected, ...actual].every((v) => v !== null && typeof v === 'object')) {
      const keysOf = (list: unknown[]) => new Set(list.map(stableStringify));
      const [want, got] = [keysOf(expected), keysOf(actual)];
      for (const v of expected) if (!got.has(stableStringify(v))) out.push({ path: `${path}.missing`.replace(/^\./, ''), expected: v, actual: undefined });
      for (const v of actual) if (!want.has(stableStringify(v))) out.push({ path: `${path}.extra`.replace(/^\./, ''), expected: undefined, actual: v });
    }
    return out;
  }
  const keys = new Set([...Object.keys(expected as object), ...Object.keys(actual as object)]);
  const out: { path: string; expected: unknown; actual: unknown }[] = [];
  for (const key of keys) {
    out.push(
      ...diffProjections((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], path ? `${path}.${key}` : key),
    );
  }
  return out;
}
