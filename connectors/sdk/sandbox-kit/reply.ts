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
 * Writes `reply`. Headers already set on `res` (rate-limit headers, a handler's `link`) stay unless the
 * reply names them again.
 */
export function send(res: ServerResponse, reply: Reply, textStrings = true): void {
  const status = reply.status ?? 200;
  res.statusCode = status;
  const headers = reply.headers ?? {};
  for (const name in headers) res.setHeader(name, headers[name]);
  if (reply.bytes) {
    res.setHeader('content-length', reply.bytes.length);
    res.end(reply.bytes);
    return;
  }
  if (status === 204 || reply.body === undefined || reply.body === null) {
    res.end();
    return;
  }
  const asText = textStrings && typeof reply.body === 'string';
  const text = asText ? (reply.body as string) : JSON.stringify(reply.body);
  if (!('content-type' in headers)) res.setHeader('content-type', asText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** The whole request body. */
export async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
