import { z } from 'zod';
import { TICKET_STATUSES } from './canonical.ts';

/** A custom field value as a user writes it in the migration file. */
const fieldValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO-8601 date or instant whose every part exists: `Date.parse` would roll `2023-02-31` over to
 * March 3rd and accept prose such as `March 3`, so the parts are checked before it runs.
 */
export function isIsoDate(text: string): boolean {
  const m = ISO.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) return false;
  return !Number.isNaN(Date.parse(text));
}

const isoDate = z
  .union([z.string(), z.date()])
  .transform((v, ctx) => {
    const text = v instanceof Date ? v.toISOString() : v;
    const ms = isIsoDate(text) ? Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text) : NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'a date (YYYY-MM-DD) or an ISO-8601 instant' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  })
  .nullable()
  .default(null);

const idList = z.array(z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String)).default([]);

/**
 * How source fields, values and groups land on the target. Everything not named here maps by name:
 * a custom field to the target field with the same key (or title), a group to the target group with
 * the same name; what the target lacks is created.
 */
export const MappingSectionSchema = z
  .object({
    /** Source custom field key → target field key, or null to leave the field behind. Default: same key. */
    fields: z.record(z.string(), z.string().min(1).nullable()).default({}),
    /** Per source dropdown or multi-select field key: source option label → target option label. */
    values: z.record(z.string(), z.record(z.string(), z.string().min(1))).default({}),
    /** Target field key → value given to every ticket that has none (required target fields the source lacks). */
    defaults: z.record(z.string(), fieldValue).default({}),
    /** Source group name → target group name, or null to leave the group behind. Default: same name. */
    groups: z.record(z.string(), z.string().min(1).nullable()).default({}),
  })
  .strict()
  .default({ fields: {}, values: {}, defaults: {}, groups: {} });

/** Which tickets and articles move. Every condition given must hold; an empty list means no condition. */
/** Filters that let every record through. */
export function noFilters() {
  return {
    createdFrom: null,
    createdTo: null,
    updatedFrom: null,
    updatedTo: null,
    tags: [],
    excludeTags: [],
    statuses: [],
    ticketIds: [],
    articleIds: [],
  };
}

export const FiltersSectionSchema = z
  .object({
    /** Tickets created at or after this date. */
    createdFrom: isoDate,
    /** Tickets created before this date. */
    createdTo: isoDate,
    /** Tickets last updated at or after this date. */
    updatedFrom: isoDate,
    /** Tickets last updated before this date. */
    updatedTo: isoDate,
    /** Tickets carrying at least one of these tags. */
    tags: z.array(z.string().min(1)).default([]),
    /** Tickets carrying none of these tags. */
    excludeTags: z.array(z.string().min(1)).default([]),
    /** Tickets in one of these (source) statuses. */
    statuses: z.array(z.enum(TICKET_STATUSES)).default([]),
    /** Only these source ticket IDs. */
    ticketIds: idList,
    /** Only these source KB article IDs. */
    articleIds: idList,
  })
  .strict()
  .default(() => noFilters());

/** Options of the migration wizard, merged into `options`. */
export const wizardOptions = {
  /** Carry images embedded in comment bodies as ordinary attachments (the body keeps a `[image: name]` note). Default false. */
  inlineImagesAsAttachments: z.boolean().default(false),
  /** A tag added to every migrated ticket, e.g. `migrated`. Default none. */
  addTag: z.string().regex(/^[^\s,]+$/, 'one tag, no spaces or commas').nullable().default(null),
  /** Leave the knowledge base behind (categories, sections, articles). Default false. */
  skipKb: z.boolean().default(false),
};

export const wizardOptionDefaults = { inlineImagesAsAttachments: false, addTag: null, skipKb: false } as const;

export type MappingSection = z.infer<typeof MappingSectionSchema>;
export type FiltersSection = z.infer<typeof FiltersSectionSchema>;
