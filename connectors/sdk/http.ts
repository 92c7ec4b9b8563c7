import { setMaxListeners } from 'node:events';
import { Agent, request, FormData } from 'undici';
import PQueue from 'p-queue';
import { HdmError } from './errors.ts';
import { CREDENTIAL_HEADER, redactor } from './redact.ts';

export { FormData };

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
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
}

export interface HttpStats {
  requests: number;
  rateLimited: number;
  retries: number;
  /** Latest rate-limit headroom reported by the server, if any. */
  remaining: number | null;
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'DELETE']);

/** Network errors raised before a request could leave this machine: sending it again is safe. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether the server may have received, and acted on, a request that failed this way. */
export function mayHaveArrived(error: HdmError): boolean {
  // A cut-short 2xx body (BAD_RESPONSE) means the server did act; only its answer is lost.
  if (error.code === 'SERVER_ERROR' || error.code === 'TIMEOUT' || error.code === 'BAD_RESPONSE') return true;
  if (error.code !== 'UNREACHABLE') return false;
  let cause: unknown = error.cause;
  for (let depth = 0; cause && depth < 4; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) return false;
    cause = (cause as { cause?: unknown }).cause;
  }
  return true;
}

function outcomeUnknown(error: HdmError): HdmError {
  return new HdmError(
    'OUTCOME_UNKNOWN',
    `${error.message} — the request may have been carried out; it is not sent again before the target is checked`,
    { retryable: true, context: error.context, cause: error },
  );
}


/** Waits `ms`, or less if `signal` aborts first (the caller then checks the signal). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The error for a request cut by a stop request: never retried, never a record's fault. */
export function interrupted(platform: string, method: string, path: string): HdmError {
  return new HdmError('INTERRUPTED', `${platform} ${method} ${path} was cut short: the run was asked to stop`, {
    retryable: false,
    context: { platform, method, path },
  });
}

/** HTTP for connectors: keep-alive, bounded concurrency, retries that honour Retry-After. */
export class HttpClient {
  readonly platform: string;
  readonly baseUrl: URL;
  readonly stats: HttpStats = { requests: 0, rateLimited: 0, retries: 0, remaining: null };
  private readonly headers: Record<string, string>;
  private readonly queue: PQueue;
  private readonly dispatcher: Agent;
  private readonly maxAttempts: number;
  private readonly maxRetryAfter: number;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxResponseBytes: number;
  private readonly patienceMs: number;
  private readonly stop: AbortSignal | undefined;
  /** When a 429 arrives, every request waits until this instant: the limit is per account, not per request. */
  private pausedUntil = 0;

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
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxRetryAfter = options.maxRetryAfterSeconds ?? 120;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.deadlineMs = options.deadlineMs ?? Math.max(300_000, this.timeoutMs);
    this.maxResponseBytes = options.maxResponseBytes ?? 64 * 2 ** 20;
    this.patienceMs = options.rateLimitPatienceMs ?? 30 * 60_000;
    this.stop = options.signal;
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
    const context = { platform: this.platform, method, path: url.pathname };
    let attempt = 0;
    let failures = 0;
    let rateLimitedSince: number | null = null;
    for (;;) {
      attempt += 1;
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) await pause(wait, this.stop);
      if (this.stop?.aborted) throw interrupted(this.platform, method, url.pathname);
      let outcome: HttpResponse<T> | HdmError;
      try {
        outcome = (await this.queue.add(() => this.once<T>(method, url, req))) as HttpResponse<T>;
      } catch (err) {
        outcome =
          err instanceof HdmError
            ? err
            : new HdmError('UNREACHABLE', `${this.platform} at ${url.origin} did not answer ${method} ${url.pathname}: ${(err as Error).message}`, {
                context,
                cause: err,
              });
      }
      if (!(outcome instanceof HdmError)) return outcome;
      if (outcome.code === 'RATE_LIMITED') {
        this.stats.rateLimited += 1;
        rateLimitedSince ??= Date.now();
        // A 429 is the server pacing us, not failing: waited out however many come, within the patience.
        if (Date.now() - rateLimitedSince >= this.patienceMs) throw outcome;
      } else {
        failures += 1;
        rateLimitedSince = null;
        if (!(req.idempotent ?? IDEMPOTENT_METHODS.has(method)) && mayHaveArrived(outcome)) throw outcomeUnknown(outcome);
        if (failures >= Math.min(req.maxAttempts ?? this.maxAttempts, this.maxAttempts)) throw outcome;
      }
      if (!outcome.retryable) throw outcome;
      this.stats.retries += 1;
      const retryAfter = outcome.context.retryAfter;
      const delayMs =
        retryAfter !== undefined ? Math.min(retryAfter, this.maxRetryAfter) * 1000 : Math.min(30_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (outcome.code === 'RATE_LIMITED') this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
      else await pause(delayMs, this.stop);
    }
  }

  private async once<T>(method: string, url: URL, req: HttpRequest): Promise<HttpResponse<T>> {
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
      return await this.exchange<T>(method, url, req, headers, body, signal);
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
    const parsed = parseBody(text, contentType, ok ? { platform: this.platform, method, path: url.pathname, httpStatus: status } : null);
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
