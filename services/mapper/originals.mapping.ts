import { ORIGINAL_CREATED_FIELD } from '../../schemas/config.ts';
import type { Comment, CustomFieldValues, Ticket } from '../../schemas/canonical.ts';

/** How the mapper keeps what a target that sets its own times cannot store (`options.originals`). */
export interface OriginalsRules {
  /** A header line on each ticket description and note. */
  header: boolean;
  /** Its text, with `{author}` and `{time}` filled in. */
  headerFormat: string;
  /** The ticket's original creation date in the `original_created_at` date field. */
  field: boolean;
  /** The source platform, naming the original author (`zendesk user 381`). */
  sourcePlatform: string;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** ISO 8601 to the second, with its zone (`Z`: canonical times are UTC). */
export function isoWithZone(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The header's text for one comment. */
export function originalHeaderText(comment: Pick<Comment, 'authorId' | 'createdAt'>, rules: Pick<OriginalsRules, 'headerFormat' | 'sourcePlatform'>): string {
  const author = comment.authorId === null ? `an unknown ${rules.sourcePlatform} user` : `${rules.sourcePlatform} user ${comment.authorId}`;
  return rules.headerFormat.replaceAll('{author}', author).replaceAll('{time}', isoWithZone(comment.createdAt));
}

/**
 * The header as the first paragraph of the body. The mapper adds it to what it read from the source,
 * never to a body read back from the target, and comments are appended once: a re-run or a delta sends
 * the same body again, so the header never doubles.
 */
export function withOriginalHeader(comment: Comment, rules: OriginalsRules): Comment {
  return { ...comment, body: `<p>${escapeHtml(originalHeaderText(comment, rules))}</p>${comment.body}` };
}

/** The original creation date (`YYYY-MM-DD`, the canonical date form) under `original_created_at`. */
export function withOriginalDate(customFields: CustomFieldValues, ticket: Pick<Ticket, 'createdAt'>): CustomFieldValues {
  return { ...customFields, [ORIGINAL_CREATED_FIELD]: isoWithZone(ticket.createdAt).slice(0, 10) };
}
