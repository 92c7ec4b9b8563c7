import { HdmError } from '../../schemas/errors.ts';
import { listOf, StallGuard } from '../sdk/response.ts';
import { FormData, HttpClient, type HttpRequest, type HttpResponse } from '../sdk/http.ts';
import type { PacerOptions } from '../sdk/pacer.ts';
import { FRESHDESK_PLANS, type FreshdeskPlan, freshdeskLimits } from './freshdesk.limits.ts';

/**
 * How a Freshdesk client paces: by the named plan's buckets, or (no plan) by the limits the account's
 * answers state (`X-RateLimit-Total` names the plan), Enterprise until they do; `none` only after a 429.
 */
export function freshdeskPacing(options: { plan?: string; highVolume?: boolean }): PacerOptions {
  if (options.highVolume) throw new HdmError('CONFIG_INVALID', 'Freshdesk has no high-volume API add-on; pick a plan instead', { context: { platform: 'freshdesk', field: 'highVolume' } });
  const plans = FRESHDESK_PLANS.map((plan) => freshdeskLimits(plan));
  if (options.plan === undefined || options.plan === 'none') return { table: freshdeskLimits('enterprise'), mode: options.plan === 'none' ? 'none' : 'auto', plans };
  return { table: freshdeskLimits(options.plan as FreshdeskPlan), mode: 'plan', plans };
}

export { FormData };

export interface FreshdeskClientOptions {
  /** Base URL of the account, e.g. `https://acme.freshdesk.com`. */
  url: string;
  apiKey: string;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Client-side requests-per-minute ceiling; 0 relies on the server's 429s. Default 0. */
  requestsPerMinute?: number;
  /** Plan whose limit buckets to pace by; `none` paces only after a 429. Default: what the account's answers state, else Enterprise. */
  plan?: string;
  /** Refused: Freshdesk sells no high-volume add-on. */
  highVolume?: boolean;
  /** Attempts for a retryable failure. Default 8. */
  maxAttempts?: number;
  /** Longest one request may take from send to last byte, in ms. Default 300000. */
  deadlineMs?: number;
  /** The run's stop request: requests in flight are cut once it aborts. */
  signal?: AbortSignal;
}

/** Largest page Freshdesk serves (`per_page` above it is a 400). */
export const PAGE_SIZE = 100;

/** The URL of the `rel="next"` entry of a Link header, if any. */
export function nextLink(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const match = /<\s*([^>]+?)\s*>\s*;\s*rel="?next"?/i.exec(part);
    if (match) return match[1];
  }
  return null;
}

/** Freshdesk API v2 over the SDK's HttpClient: basic auth with the API key, Link-header pagination. */
export class FreshdeskClient {
  readonly http: HttpClient;
  /** Attachment URLs are pre-signed links to a file store: they must be fetched without our Authorization header. */
  readonly files: HttpClient;
  readonly baseUrl: string;
  readonly signal: AbortSignal | undefined;
  readonly deadlineMs: number | undefined;

  constructor(options: FreshdeskClientOptions) {
    this.signal = options.signal;
    this.deadlineMs = options.deadlineMs;
    if (!options.apiKey) {
      throw new HdmError('CONFIG_INVALID', 'freshdesk: credentials.apiKey is empty (set FRESHDESK_API_KEY)', { context: { platform: 'freshdesk', field: 'credentials.apiKey' } });
    }
    this.baseUrl = options.url.replace(/\/+$/, '');
    const auth = `Basic ${Buffer.from(`${options.apiKey}:X`).toString('base64')}`;
    this.http = new HttpClient({
      platform: 'freshdesk',
      baseUrl: this.baseUrl,
      headers: { authorization: auth },
      concurrency: options.concurrency ?? 8,
      requestsPerMinute: options.requestsPerMinute ?? 0,
      maxAttempts: options.maxAttempts,
      deadlineMs: options.deadlineMs,
      signal: options.signal,
      pacing: freshdeskPacing(options),
    });
    this.files = new HttpClient({
      platform: 'freshdesk',
      baseUrl: this.baseUrl,
      concurrency: options.concurrency ?? 8,
      maxAttempts: options.maxAttempts,
      deadlineMs: options.deadlineMs,
      signal: options.signal,
    });
  }

  get<T>(path: string, query?: HttpRequest['query']): Promise<T> {
    return this.http.send<T>({ method: 'GET', path, query }).then((r) => r.body);
  }

  /** GET that answers null for a 404 instead of throwing. */
  async find<T>(path: string, query?: HttpRequest['query']): Promise<T | null> {
    const res = await this.http.send<T>({ method: 'GET', path, query, okStatuses: [404] });
    return res.status === 404 ? null : res.body;
  }

  send<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    return this.http.send<T>(req);
  }

  post<T>(path: string, json: unknown): Promise<T> {
    return this.http.send<T>({ method: 'POST', path, json }).then((r) => r.body);
  }

  put<T>(path: string, json: unknown): Promise<T> {
    return this.http.send<T>({ method: 'PUT', path, json }).then((r) => r.body);
  }

  postForm<T>(path: string, form: FormData, method: 'POST' | 'PUT' = 'POST'): Promise<T> {
    // Attachments sent with an update are added to the ticket, so no form is sent twice blindly.
    return this.http.send<T>({ method, path, form, idempotent: false }).then((r) => r.body);
  }

  async delete(path: string): Promise<void> {
    await this.http.send({ method: 'DELETE', path });
  }

  /** Pages of a list endpoint, following `Link: <…>; rel="next"` until it is absent. */
  async *pages<T>(path: string, query: HttpRequest['query'] = {}, signal?: AbortSignal): AsyncGenerator<{ items: T[]; page: number; hasNext: boolean }> {
    let url: string | null = path;
    let q: HttpRequest['query'] | undefined = { per_page: PAGE_SIZE, ...query };
    let page = Number(q.page ?? 1);
    const guard = new StallGuard({ platform: 'freshdesk', path });
    while (url) {
      if (signal?.aborted) throw new HdmError('INTERRUPTED', `freshdesk ${path} read stopped on request`, { retryable: false, context: { platform: 'freshdesk', path } });
      const res: HttpResponse<T[]> = await this.http.send<T[]>({ method: 'GET', path: url, query: q });
      const next = nextLink(res.headers.link);
      const items = listOf<T>(res.body, null, { platform: 'freshdesk', path: this.http.url(url).pathname });
      if (next) guard.page(next !== url, next);
      yield { items, page, hasNext: next !== null };
      url = next;
      q = undefined;
      page += 1;
    }
  }

  /** Every item of a list endpoint. For small lists only. */
  async all<T>(path: string, query: HttpRequest['query'] = {}): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.pages<T>(path, query)) out.push(...page.items);
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.http.close(), this.files.close()]);
  }
}
