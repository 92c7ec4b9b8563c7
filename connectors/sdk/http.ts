import { setMaxListeners } from 'node:events';
import { Agent, request, FormData } from 'undici';
import PQueue from 'p-queue';
import { DEFAULT_MAX_DOWNLOAD_BYTES, downloadOnce } from './download.ts';
import { HdmError, type ErrorContext } from '../../schemas/errors.ts';
import { CREDENTIAL_HEADER, redactor } from '../../schemas/redact.ts';
import { interrupted, RetryPolicy, type LastRetry, type RetryStats } from './retry.ts';
import { type PacedAnswer, Pacer, type PacerOptions } from './pacer.ts';

export { FormData };
export { interrupted, mayHaveArrived, pause, type LastRetry } from './retry.ts';

export interface HttpClientOptions {
  /** Platform name, used in error context. */
  platform: string;
  /** Base URL, e.g. `https://acme.zendesk.com`. */
  baseUrl: string;
  /** Headers sent with every request (auth goes here; it never appears in errors or logs). */
  headers?: Record<string, string>;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Client-side ceiling on requests per minute; 0 means none. Default 0. */
  requestsPerMinute?: number;
  /** Attempts for a retryable failure (429, 5xx, network) before giving up. Default 8. */
  maxAttempts?: number;
  /** Longest wait honoured for one Retry-After, in seconds. Default 120. */
  maxRetryAfterSeconds?: number;
  /** Longest silence while waiting for headers or body, in milliseconds. Default 60000. */
  timeoutMs?: number;
  /** Longest one attempt may take from send to last byte, however steadily the server trickles. Default 300000, at least `timeoutMs`. */
  deadlineMs?: number;
  /** Largest answer body read, in bytes; a larger one fails BAD_RESPONSE instead of filling memory. Default 64 MiB. */
  maxResponseBytes?: number;
  /** How long one request waits out consecutive 429s before giving up, in milliseconds. Default 1800000 (30 minutes). */
  rateLimitPatienceMs?: number;
  /** Once aborted, requests in flight are cut and new ones fail at once with INTERRUPTED. Default: none. */
  signal?: AbortSignal;
  /**
   * The platform's limit table and how to pace by it (connectors/sdk/pacer.ts): each request waits for the
   * buckets it draws from, and a 429 pauses only the bucket that refused. Default: none (a 429 pauses
   * every request of this client).
   */
  pacing?: PacerOptions;
}

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path relative to baseUrl, or an absolute URL on the same host (next-page links). */
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  json?: unknown;
  form?: FormData;
  /** Raw body with its content type (uploads). */
  raw?: { body: Uint8Array; contentType: string };
  headers?: Record<string, string>;
  /** Resolve with the response instead of throwing for these statuses. */
  okStatuses?: number[];
  /**
   * Attempts for this request when it fails (network, 5xx), overriding the client's: e.g. 2 for a
   * fail-fast connection check. A 429 proves the server answers, so rate-limited attempts never count:
   * they are waited out (Retry-After) for up to the client's `rateLimitPatienceMs`.
   */
  maxAttempts?: number;
  /**
   * Whether sending the request twice does no harm. Default: true for GET, PUT and DELETE, false for
   * POST and PATCH. A request that is not idempotent is never sent again once it may have reached the
   * server (the connection dropped after sending, a timeout, a 5xx): it fails with OUTCOME_UNKNOWN, so
   * the caller looks on the target before trying again. A 429 or a refused connection is retried as usual.
   */
  idempotent?: boolean;
  /**
   * false: when a limit bucket the request draws has no room now, or the server answers 429, fail at once
   * with a retryable RATE_LIMITED whose context says `deferred` instead of waiting (the 429 still pauses
   * its bucket). For a caller that has other work and comes back later. Default true.
   */
  waitForBudget?: boolean;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

export interface HttpStats extends RetryStats {
  requests: number;
  /** Answers with a 5xx status (retried or not). */
  serverErrors: number;
  /** Latest rate-limit headroom reported by the server, if any. */
  remaining: number | null;
  /** Until when (ms since the epoch) requests wait out the latest 429; null before the first. */
  rateLimitedUntil: number | null;
  lastRetry: LastRetry | null;
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'DELETE']);

/** HTTP for connectors: keep-alive, bounded concurrency, retries that honour Retry-After. */
export class HttpClient {
  readonly platform: string;
  readonly baseUrl: URL;
  readonly stats: HttpStats = { requests: 0, rateLimited: 0, retries: 0, serverErrors: 0, remaining: null, rateLimitedUntil: null, lastRetry: null };
  /** The bucket pacer, when the client paces by a limit table. */
  readonly pacer: Pacer | null;
  private readonly headers: Record<string, string>;
  private readonly queue: PQueue;
  private readonly dispatcher: Agent;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxResponseBytes: number;
  private readonly stop: AbortSignal | undefined;

  constructor(options: HttpClientOptions) {
    this.platform = options.platform;
    this.baseUrl = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.headers = { accept: 'application/json', 'user-agent': 'helpdesk-migrator', ...options.headers };
    // A platform may echo the request's headers in an error body: whatever credential we send, in the
    // encoding we send it, must be known to the redactor before any answer arrives.
    registerCredentialHeaders(this.headers);
    const concurrency = options.concurrency ?? 8;
    const rpm = options.requestsPerMinute ?? 0;
    this.queue = new PQueue(
      rpm > 0 ? { concurrency, intervalCap: Math.max(1, Math.floor(rpm / 60)), interval: 1000 } : { concurrency },
    );
    this.dispatcher = new Agent({ connections: concurrency * 2, keepAliveTimeout: 10_000, pipelining: 1 });
    this.retry = new RetryPolicy({
      platform: this.platform,
      maxAttempts: options.maxAttempts,
      maxRetryAfterSeconds: options.maxRetryAfterSeconds,
      rateLimitPatienceMs: options.rateLimitPatienceMs,
      signal: options.signal,
      stats: this.stats,
    });
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.deadlineMs = options.deadlineMs ?? Math.max(300_000, this.timeoutMs);
    this.maxResponseBytes = options.maxResponseBytes ?? 64 * 2 ** 20;
    this.stop = options.signal;
    this.pacer = options.pacing ? new Pacer({ maxRetryAfterSeconds: options.maxRetryAfterSeconds, ...options.pacing }) : null;
    // Every request in flight listens to the stop request: as many listeners as requests, by design.
    if (this.stop) setMaxListeners(0, this.stop);
  }

  async close(): Promise<void> {
    await this.queue.onIdle();
    await this.dispatcher.close();
  }

  /**
   * The URL of a request. An absolute URL (a next-page or resource link from an answer) is followed only
   * on the configured origin when this client sends credentials: a link elsewhere would carry them there.
   */
  url(path: string, query?: HttpRequest['query']): URL {
    const url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(path.replace(/^\//, ''), this.baseUrl);
    if (url.origin !== this.baseUrl.origin && hasCredentials(this.headers)) {
      throw new HdmError('REJECTED', `${this.platform} answered with a link to ${url.origin}, outside the configured ${this.baseUrl.origin}: not followed, so the credentials stay on their origin`, {
        retryable: false,
        context: { platform: this.platform, path: url.pathname, foreignOrigin: url.origin },
      });
    }
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url;
  }

  get<T>(path: string, query?: HttpRequest['query']): Promise<HttpResponse<T>> {
    return this.send<T>({ method: 'GET', path, query });
  }

  async send<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    const method = req.method ?? 'GET';
    const url = this.url(req.path, req.query);
    const call = {
      method,
      path: url.pathname,
      idempotent: req.idempotent ?? IDEMPOTENT_METHODS.has(method),
      maxAttempts: req.maxAttempts,
      rateLimitPatienceMs: req.waitForBudget === false ? 0 : undefined,
      paced: this.pacer !== null && url.origin === this.baseUrl.origin,
      toError: (err: unknown) =>
        new HdmError('UNREACHABLE', `${this.platform} at ${url.origin} did not answer ${method} ${url.pathname}: ${(err as Error).message}`, {
          context: { platform: this.platform, method, path: url.pathname },
          cause: err,
        }),
    };
    const pacer = call.paced ? this.pacer : null;
    if (!pacer) return this.retry.run(call, async () => (await this.queue.add(() => this.once<T>(method, url, req))) as HttpResponse<T>);
    return this.retry.run(call, async () => {
      // Admission comes before the queue: a request waiting for its bucket holds no connection slot, so
      // requests drawing other buckets keep flowing.
      const pass = await pacer.acquire({ method, path: url.pathname, query: url.searchParams }, this.stop, { wait: req.waitForBudget });
      let answered = false;
      try {
        return (await this.queue.add(() =>
          this.once<T>(method, url, req, (answer) => {
            answered = true;
            pacer.settle(pass, answer);
          }),
        )) as HttpResponse<T>;
      } finally {
        if (!answered) pacer.settle(pass, null);
      }
    });
  }

  /**
   * The bytes at a URL (an attachment), under the same retry policy as every request of this client, within
   * the client's deadline and a size limit. Credentials go only to the configured origin, never to another
   * host the URL names or a redirect leads to (a file store). A failure that persists is ATTACHMENT_FAILED,
   * retryable as its last cause was.
   */
  async download(
    path: string,
    options: {
      /** Largest body accepted, in bytes. Default 100 MiB. */
      maxBytes?: number;
      /** What the bytes are, for errors. Default `attachment <path>`. */
      what?: string;
      /** Added to the context of a failure (record, field). */
      context?: ErrorContext;
      /** Content type when the answer names none. Default `application/octet-stream`. */
      contentType?: string;
    } = {},
  ): Promise<{ body: Uint8Array; contentType: string }> {
    const url = /^https?:\/\//i.test(path) ? new URL(path) : new URL(path.replace(/^\//, ''), this.baseUrl);
    const headers = url.origin === this.baseUrl.origin ? this.headers : {};
    const what = options.what ?? `attachment ${url.pathname}`;
    const call = {
      method: 'GET',
      path: url.pathname,
      idempotent: true,
      toError: (err: unknown) =>
        new HdmError('UNREACHABLE', `${this.platform} ${what} from ${url.origin} could not be fetched: ${(err as Error).message}`, {
          context: { platform: this.platform, method: 'GET', path: url.pathname },
          cause: err,
        }),
    };
    try {
      return await this.retry.run(call, async () => {
        this.stats.requests += 1;
        const res = await downloadOnce(url, {
          platform: this.platform,
          headers,
          deadlineMs: this.deadlineMs,
          maxBytes: options.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES,
          signal: this.stop,
        });
        if (res.status >= 200 && res.status < 300) return { body: res.body, contentType: res.headers['content-type'] ?? options.contentType ?? 'application/octet-stream' };
        throw httpError(this.platform, 'GET', res.url, res.status, res.headers, Buffer.from(res.body).toString('utf8'));
      });
    } catch (err) {
      const failure = err as HdmError;
      if (failure.code === 'INTERRUPTED' || failure.code === 'ATTACHMENT_FAILED') throw failure;
      throw new HdmError('ATTACHMENT_FAILED', `${this.platform} ${what} could not be downloaded: ${failure.message}`, {
        retryable: failure.retryable,
        context: { ...failure.context, ...options.context },
        cause: failure,
      });
    }
  }

  private async once<T>(method: string, url: URL, req: HttpRequest, observe?: (answer: PacedAnswer) => void): Promise<HttpResponse<T>> {
    registerCredentialHeaders(req.headers);
    const headers: Record<string, string> = { ...this.headers, ...req.headers };
    // As browsers do: a request that leaves the configured origin goes without credentials.
    if (url.origin !== this.baseUrl.origin) for (const name of Object.keys(headers)) if (CREDENTIAL_HEADER.test(name)) delete headers[name];
    let body: string | Uint8Array | FormData | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.form) {
      body = req.form;
    } else if (req.raw) {
      headers['content-type'] = req.raw.contentType;
      body = req.raw.body;
    }
    this.stats.requests += 1;
    const deadline = AbortSignal.timeout(this.deadlineMs);
    const signal = this.stop ? AbortSignal.any([deadline, this.stop]) : deadline;
    try {
      return await this.exchange<T>(method, url, req, headers, body, signal, observe);
    } catch (err) {
      if (err instanceof HdmError || !signal.aborted) throw err;
      if (this.stop?.aborted) throw interrupted(this.platform, method, url.pathname);
      throw new HdmError('TIMEOUT', `${this.platform} ${method} ${url.pathname} did not complete within ${this.deadlineMs / 1000} s`, {
        context: { platform: this.platform, method, path: url.pathname },
        cause: err,
      });
    }
  }

  private async exchange<T>(
    method: string,
    url: URL,
    req: HttpRequest,
    headers: Record<string, string>,
    body: string | Uint8Array | FormData | undefined,
    signal: AbortSignal,
    observe?: (answer: PacedAnswer) => void,
  ): Promise<HttpResponse<T>> {
    const res = await request(url, {
      method: method as 'GET',
      headers,
      body,
      dispatcher: this.dispatcher,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      signal,
    });
    const resHeaders: Record<string, string> = {};
    for (const [key, value] of Object.entries(res.headers)) {
      if (value !== undefined) resHeaders[key] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    const remaining = resHeaders['x-ratelimit-remaining'] ?? resHeaders['x-rate-limit-remaining'] ?? resHeaders['ratelimit-remaining'];
    if (remaining !== undefined && !Number.isNaN(Number(remaining))) this.stats.remaining = Number(remaining);
    const contentType = resHeaders['content-type'] ?? '';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.maxResponseBytes) {
        res.body.destroy();
        observe?.({ status: res.statusCode, headers: resHeaders });
        throw new HdmError('BAD_RESPONSE', `${this.platform} ${method} ${url.pathname} answered more than ${this.maxResponseBytes} bytes; not read further`, {
          retryable: false,
          context: { platform: this.platform, method, path: url.pathname, httpStatus: res.statusCode },
        });
      }
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode;
    const ok = (status >= 200 && status < 300) || req.okStatuses?.includes(status) === true;
    let parsed: unknown;
    try {
      parsed = parseBody(text, contentType, ok ? { platform: this.platform, method, path: url.pathname, httpStatus: status } : null);
    } catch (err) {
      observe?.({ status, headers: resHeaders });
      throw err;
    }
    observe?.({ status, headers: resHeaders, body: parsed });
    if (ok) return { status, headers: resHeaders, body: parsed as T };
    throw httpError(this.platform, method, url, status, resHeaders, parsed);
  }
}

function hasCredentials(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((name) => CREDENTIAL_HEADER.test(name));
}

function registerCredentialHeaders(headers: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(headers ?? {})) if (CREDENTIAL_HEADER.test(name)) redactor.addHeader(value);
}

/**
 * A JSON body as a value. An answer we act on (`expected` given) that claims JSON but does not parse
 * (a body cut short by a proxy or a dropped connection) is a BAD_RESPONSE: taken as text it would read
 * as an empty page. Retried unless it answered a request that is not idempotent: its effect happened though its answer
 * is lost, so the client turns it into OUTCOME_UNKNOWN for the caller to look on the target.
 */
function parseBody(text: string, contentType: string, expected: { platform: string; method: string; path: string; httpStatus: number } | null): unknown {
  if (!contentType.includes('json') || text.length === 0) return text;
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!expected) return text;
    const { platform, method, path, httpStatus } = expected;
    throw new HdmError('BAD_RESPONSE', `${platform} ${method} ${path} answered ${httpStatus} with a JSON body that does not parse (${text.length} characters; cut short?)`, {
      retryable: method !== 'POST',
      context: { ...expected },
      cause: err,
    });
  }
}

function describeBody(body: unknown): string {
  if (body === '' || body === undefined || body === null) return '';
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

export function httpError(platform: string, method: string, url: URL, status: number, headers: Record<string, string>, answer: unknown): HdmError {
  const body = redactor.redactDeep(answer);
  const context = { platform, method, path: url.pathname, httpStatus: status, body };
  const where = `${platform} ${method} ${url.pathname}`;
  const detail = describeBody(body);
  if (status === 429) {
    const retryAfter = Number(headers['retry-after'] ?? '1');
    return new HdmError('RATE_LIMITED', `${where} was rate limited (429); retry after ${retryAfter}s`, {
      context: { ...context, retryAfter: Number.isFinite(retryAfter) ? retryAfter : 1 },
    });
  }
  if (status === 401 || status === 403) {
    return new HdmError('AUTH_FAILED', `${where} was refused (${status}): check the credentials and their permissions${detail ? ` — ${detail}` : ''}`, {
      context,
    });
  }
  if (status === 404) return new HdmError('NOT_FOUND', `${where} found nothing (404)`, { context });
  if (status === 409) return new HdmError('CONFLICT', `${where} conflicted (409)${detail ? `: ${detail}` : ''}`, { context, retryable: true });
  if (status >= 500) {
    const retryAfter = headers['retry-after'] ? Number(headers['retry-after']) : undefined;
    return new HdmError('SERVER_ERROR', `${where} failed on the server (${status})${detail ? `: ${detail}` : ''}`, {
      context: retryAfter !== undefined && Number.isFinite(retryAfter) ? { ...context, retryAfter } : context,
    });
  }
  return new HdmError('REJECTED', `${where} was rejected (${status})${detail ? `: ${detail}` : ''}`, { context });
}
