import { request } from 'undici';
import { HdmError } from '../../schemas/errors.ts';
import { interrupted } from './retry.ts';

export interface DownloadOptions {
  /** Platform name, used in error context. */
  platform: string;
  /** Sent to the URL's own origin only, never to a host a redirect leads to (a file store). */
  headers?: Record<string, string>;
  /** Longest one download may take, from request to last byte. Default 300000. */
  deadlineMs?: number;
  /** Largest body accepted, in bytes. Default 104857600 (100 MiB). */
  maxBytes?: number;
  /** Cuts the download when aborted (a stop request). */
  signal?: AbortSignal;
}

export interface Downloaded {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Where the bytes came from after redirects. */
  url: URL;
}

export const DEFAULT_MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024;

/**
 * One download attempt of an attachment's bytes, following up to five redirects, within a deadline
 * and a size limit: a file host that never answers, trickles, or serves without end cannot hold a run.
 * Any status is returned: `HttpClient.download` retries it under the client's retry policy.
 */
export async function downloadOnce(url: string | URL, options: DownloadOptions): Promise<Downloaded> {
  const deadlineMs = options.deadlineMs ?? 300_000;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  const deadline = AbortSignal.timeout(deadlineMs);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  const origin = new URL(url).origin;
  let target = new URL(url);
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await request(target, {
        method: 'GET',
        headers: { 'user-agent': 'helpdesk-migrator', ...(target.origin === origin ? options.headers : {}) },
        signal,
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
      if (res.statusCode >= 300 && res.statusCode < 400 && headers.location && redirects < 5) {
        await res.body.dump();
        target = new URL(headers.location, target);
        continue;
      }
      const tooLarge = () =>
        new HdmError('ATTACHMENT_FAILED', `${options.platform} attachment ${target.pathname} is larger than the ${maxBytes} bytes a download may hold`, {
          retryable: false,
          context: { platform: options.platform, path: target.pathname },
        });
      if (Number(headers['content-length'] ?? 0) > maxBytes) {
        res.body.destroy();
        throw tooLarge();
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          res.body.destroy();
          throw tooLarge();
        }
        chunks.push(chunk as Buffer);
      }
      return { status: res.statusCode, headers, body: new Uint8Array(Buffer.concat(chunks)), url: target };
    }
  } catch (err) {
    if (err instanceof HdmError || !signal.aborted) throw err;
    if (options.signal?.aborted) throw interrupted(options.platform, 'GET', target.pathname);
    throw new HdmError('TIMEOUT', `${options.platform} attachment download ${target.pathname} did not complete within ${deadlineMs / 1000} s`, {
      context: { platform: options.platform, path: target.pathname },
      cause: err,
    });
  }
}
