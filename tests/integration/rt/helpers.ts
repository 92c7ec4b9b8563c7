import type { WriteContext } from '../../../connectors/sdk/contract.ts';
import { attachmentContent } from '../../../connectors/sdk/fake-helpdesk.ts';
import type { AttachmentMeta } from '../../../schemas/canonical.ts';

/** A write context whose attachments come from the fake helpdesk's deterministic bytes (or `files`). */
export function writeContext(stamp: string, files: Record<string, Uint8Array> = {}, knownChildren: Record<string, string> = {}): WriteContext {
  return {
    stamp,
    knownChildren,
    openAttachment: async (a: AttachmentMeta) => ({ body: files[a.sourceId] ?? attachmentContent(a), contentType: a.contentType }),
  };
}
