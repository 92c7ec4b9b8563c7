import type { AttachmentMeta } from '../../schemas/canonical.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { WriteContext } from './contract.ts';

/**
 * Attachments a target cannot hold (over its per-ticket or per-file limit): kept at the migration's
 * attachment location as links in the comment that held them (`options.attachmentLinks`), or named there
 * when no location is configured. Writers of every target use these, and their readers read the link list
 * back as attachments, so verify compares the comment with all of its files.
 */

/** Opens the list of links in a comment body; what follows names the platform and the limit. */
export const LINKED_ATTACHMENTS_MARKER = '[Attachments kept outside ';

/** An attachment kept at the attachment location: its link, and its size as written there. */
export interface LinkedFile {
  fileName: string;
  size: number;
  link: string;
}

/** What a comment could not carry: links when an attachment location is configured, else only names. */
export interface Overflow {
  linked: LinkedFile[];
  named: AttachmentMeta[];
}

export const NO_OVERFLOW: Overflow = { linked: [], named: [] };

/** The first segment of every key of one source record's attachments: its stamp, made a path segment. */
export function recordKey(stamp: string): string {
  return stamp.replace(/[:/]/g, '-');
}

/** The attachment location's key of a source attachment: stable across retries and re-runs. */
export function attachmentKey(stamp: string, attachment: AttachmentMeta): string {
  return [recordKey(stamp), attachment.sourceId.replace(/\//g, '-'), attachment.fileName.replace(/\//g, '_')].join('/');
}

/** Downloads an attachment from the source, naming it when that fails. */
export async function downloadAttachment(attachment: AttachmentMeta, context: WriteContext): Promise<{ body: Uint8Array; contentType: string }> {
  try {
    return await context.openAttachment(attachment);
  } catch (err) {
    throw new HdmError('ATTACHMENT_FAILED', `attachment ${attachment.sourceId} (${attachment.fileName}) could not be downloaded from the source: ${(err as Error).message}`, {
      context: { field: 'attachments', recordId: attachment.sourceId },
      cause: err,
    });
  }
}

/**
 * Keeps the attachments a target cannot hold at the attachment location. The same key gets the same
 * link, so a retry rewrites one file. `reuse`: a file already there at its declared size is not downloaded
 * again (an update restating what the create kept). `fetched`: bytes already downloaded, not fetched twice.
 */
export async function keepLinked(leftOut: AttachmentMeta[], context: WriteContext, reuse: boolean, fetched?: Map<AttachmentMeta, Uint8Array>): Promise<Overflow> {
  const store = context.attachmentStore;
  if (!store || leftOut.length === 0) return { linked: [], named: leftOut };
  const linked: LinkedFile[] = [];
  for (const attachment of leftOut) {
    const key = attachmentKey(context.stamp, attachment);
    if (reuse && (await store.sizeOf(store.linkFor(key))) === attachment.size) {
      linked.push({ fileName: attachment.fileName, size: attachment.size, link: store.linkFor(key) });
      continue;
    }
    const body = fetched?.get(attachment) ?? (await downloadAttachment(attachment, context)).body;
    linked.push({ fileName: attachment.fileName, size: body.length, link: await store.put(key, body) });
  }
  return { linked, named: [] };
}

export const megabytes = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;

/**
 * The body with what the target's limit kept out at its end: links to the attachment location (read back
 * as attachments by `splitLinkedAttachments`), or the names of files not carried, so the loss is visible
 * where it happened. `platform` names the target, `limit` the rule, e.g. "at most 20.0 MB of attachments per ticket".
 */
export function withOverflow(body: string, overflow: Overflow, platform: string, limit: string): string {
  let out = body;
  if (overflow.linked.length > 0) {
    const items = overflow.linked.map((f) => `<li><a href="${escapeHtml(f.link).replace(/"/g, '&quot;')}">${escapeHtml(f.fileName)}</a> (${f.size} bytes)</li>`).join('');
    out += `<p>${LINKED_ATTACHMENTS_MARKER}${platform} (${platform} holds ${limit}):]</p><ul>${items}</ul>`;
  }
  if (overflow.named.length > 0) {
    const names = overflow.named.map((a) => `${escapeHtml(a.fileName)} (${megabytes(a.size)})`).join(', ');
    out += `<p>[Attachments not carried: ${platform} takes ${limit}: ${names}]</p>`;
  }
  return out;
}

/**
 * A body and the attachments it links to at the attachment location (see `withOverflow`): the list is cut
 * from the body and its files read back as attachments, so a comment whose files went partly to the target
 * and partly to the location reads as the comment with all of them.
 */
export function splitLinkedAttachments(body: string): { body: string; linked: AttachmentMeta[] } {
  const marker = body.indexOf(LINKED_ATTACHMENTS_MARKER);
  if (marker < 0) return { body, linked: [] };
  const start = body.lastIndexOf('<p', marker);
  const cut = start < 0 ? marker : start;
  const linked: AttachmentMeta[] = [];
  for (const m of body.slice(marker).matchAll(/<a\s[^>]*href="([^"]+)"[^>]*>([^<]*)<\/a>\s*\((\d+) bytes\)/g)) {
    const url = unescapeHtml(m[1]);
    linked.push({ sourceId: url, fileName: unescapeHtml(m[2]), contentType: 'application/octet-stream', size: Number(m[3]), url, inline: false });
  }
  return { body: body.slice(0, cut), linked };
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const unescapeHtml = (text: string) => text.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
