import type { IncomingMessage, ServerResponse } from 'node:http';

/** What a sandbox route answers. */
export interface Reply {
  /** Default 200. */
  status?: number;
  /** JSON body; a string is sent as text/plain when the server's `textStrings` is on; null or undefined sends none. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes instead of `body` (downloads). */
  bytes?: Uint8Array;
}

/** An error answer a handler throws: the platform's status and error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : body === null ? `HTTP ${status}` : JSON.stringify(body));
  }
}

/**
 * Writes `reply`, with `extra` headers under its own. Headers already set on `res` (a handler's `link`)
 * stay unless named again.
 */
export function send(res: ServerResponse, reply: Reply, textStrings = true, extra?: Record<string, string>): void {
  const status = reply.status ?? 200;
  const headers: Record<string, string | number> = extra ? { ...extra, ...reply.headers } : { ...reply.headers };
  if (reply.bytes) {
    headers['content-length'] = reply.bytes.length;
    res.writeHead(status, headers);
    res.end(reply.bytes);
    return;
  }
  if (status === 204 || reply.body === undefined || reply.body === null) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const asText = textStrings && typeof reply.body === 'string';
  const text = asText ? (reply.body as string) : JSON.stringify(reply.body);
  headers['content-type'] ??= asText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(status, headers);
  res.end(text);
}

const EMPTY = Buffer.alloc(0);

/** The whole request body (none without Content-Length or Transfer-Encoding, as HTTP/1.1 has it). */
export function readRaw(req: IncomingMessage): Buffer | Promise<Buffer> {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) return EMPTY;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
