import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { recordKey } from '../../connectors/sdk/attachment-overflow.ts';
import type { AttachmentStore } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';

/** Where attachments a target cannot hold are written, and the URL under which that directory is served. */
export interface AttachmentLinks {
  /** Directory the files are written to (created when missing). */
  directory: string;
  /** URL under which the user serves `directory`; links are this URL plus the file's key. */
  baseUrl: string;
}

/** A key's path segments made safe as file and URL names: no separators, no `..`, nothing empty. */
function segments(key: string): string[] {
  return key.split('/').map((part) => {
    const safe = part.replace(/[\u0000-\u001f\\:*?"<>|]/g, '_').replace(/^\.+$/, '_');
    return safe.length > 0 ? safe : '_';
  });
}

/**
 * Attachments kept in a directory the user serves at `baseUrl`. A file is written to a temporary name
 * and renamed into place, so a crash mid-write never leaves a short file under a link.
 */
export class DirectoryAttachmentStore implements AttachmentStore {
  private readonly root: string;
  private readonly base: string;

  constructor(links: AttachmentLinks) {
    this.root = resolve(links.directory);
    this.base = links.baseUrl.replace(/\/+$/, '');
  }

  linkFor(key: string): string {
    return `${this.base}/${segments(key).map(encodeURIComponent).join('/')}`;
  }

  owns(link: string): boolean {
    return link.startsWith(`${this.base}/`);
  }

  async put(key: string, body: Uint8Array): Promise<string> {
    const path = this.pathOf(segments(key));
    try {
      await mkdir(dirname(path), { recursive: true });
      const partial = `${path}.partial-${process.pid}`;
      await writeFile(partial, body);
      await rename(partial, path);
    } catch (err) {
      throw this.failed('written to', err);
    }
    return this.linkFor(key);
  }

  async sizeOf(link: string): Promise<number | null> {
    if (!this.owns(link)) return null;
    let parts: string[];
    try {
      parts = link.slice(this.base.length + 1).split('/').map(decodeURIComponent);
    } catch {
      return null;
    }
    try {
      const info = await stat(this.pathOf(segments(parts.join('/'))));
      return info.isFile() ? info.size : null;
    } catch {
      return null;
    }
  }

  /**
   * Removes every file kept for one source record (its stamp), as `hdm undo` does once the target record
   * that linked them is deleted. Returns how many files were removed; none is not an error.
   */
  async removeRecord(stamp: string): Promise<number> {
    const dir = this.pathOf(segments(recordKey(stamp)));
    let files: number;
    try {
      files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw this.failed('read', err);
    }
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      throw this.failed('removed from', err);
    }
    return files;
  }

  private failed(what: string, err: unknown): HdmError {
    return new HdmError('ATTACHMENT_FAILED', `attachments could not be ${what} the attachment location ${this.root}: ${(err as Error).message}`, {
      retryable: false,
      context: { field: 'options.attachmentLinks.directory' },
      cause: err,
    });
  }

  private pathOf(parts: string[]): string {
    const path = join(this.root, ...parts);
    // segments() already rules `..` out; this keeps any future key scheme inside the root.
    if (!path.startsWith(this.root + sep)) throw new HdmError('INTERNAL', `attachment key escapes the attachment location: ${parts.join('/')}`);
    return path;
  }
}
