import type { ConnectorConfig } from '../sdk/contract.ts';
import { downloadOnce } from '../sdk/download.ts';
import { HdmError } from '../sdk/errors.ts';
import { listOf, StallGuard } from '../sdk/response.ts';
import { HttpClient, httpError, interrupted, pause, type HttpRequest, type HttpResponse } from '../sdk/http.ts';

export interface ZendeskCredentials {
  email: string;
  apiToken: string;
}

export function zendeskCredentials(config: ConnectorConfig): ZendeskCredentials {
  const email = config.credentials.email;
  const apiToken = config.credentials.apiToken;
  if (!email || !apiToken) {
    throw new HdmError('CONFIG_INVALID', 'zendesk credentials: expected email and apiToken (ZENDESK_EMAIL, ZENDESK_API_TOKEN)', {
      context: { platform: 'zendesk', field: !email ? 'credentials.email' : 'credentials.apiToken' },
    });
  }
  return { email, apiToken };
}

/** Zendesk's two list paginations: cursor (`meta.has_more`, `links.next`) and offset (`next_page`). */
interface ListBody {
  next_page?: string | null;
  meta?: { has_more?: boolean; after_cursor?: string | null };
  links?: { next?: string | null };
  [key: string]: unknown;
}

/** HTTP for the Zendesk API: token auth (`{email}/token:{api_token}`), pagination, binary downloads. */
export class ZendeskClient {
  readonly http: HttpClient;
  readonly baseUrl: string;
  private readonly authorization: string;
  private readonly signal: AbortSignal | undefined;
  private readonly downloadDeadlineMs: number | undefined;

  constructor(config: ConnectorConfig) {
    this.signal = config.signal;
    this.downloadDeadlineMs = config.deadlineMs;
    const { email, apiToken } = zendeskCredentials(config);
    this.baseUrl = config.url.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${email}/token:${apiToken}`).toString('base64')}`;
    this.http = new HttpClient({
      platform: 'zendesk',
      baseUrl: this.baseUrl,
      headers: { authorization: this.authorization },
      concurrency: config.concurrency ?? 8,
      maxAttempts: config.maxAttempts,
      requestsPerMinute: config.requestsPerMinute ?? 0,
      deadlineMs: config.deadlineMs,
      signal: config.signal,
    });
  }

  get<T>(path: string, query?: HttpRequest['query']): Promise<T> {
    return this.http.send<T>({ method: 'GET', path, query }).then((r) => r.body);
  }

  send<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    return this.http.send<T>(req);
  }

  /** GET that answers null for 404. */
  async find<T>(path: string, query?: HttpRequest['query']): Promise<T | null> {
    const res = await this.http.send<T>({ method: 'GET', path, query, okStatuses: [404] });
    return res.status === 404 ? null : res.body;
  }

  /** Every page of a list endpoint, following `links.next` (cursor) or `next_page` (offset). */
  async *pages<T>(path: string, key: string, query: HttpRequest['query'] = {}): AsyncGenerator<T[]> {
    let next: string | null = path;
    let q: HttpRequest['query'] = query;
    const guard = new StallGuard({ platform: 'zendesk', path });
    while (next) {
      const body: ListBody = await this.get<ListBody>(next, q);
      yield listOf<T>(body, key, { platform: 'zendesk', path: new URL(next, `${this.baseUrl}/`).pathname });
      q = undefined;
      const current: string = next;
      if (body.meta && 'has_more' in body.meta) next = body.meta.has_more ? (body.links?.next ?? null) : null;
      else next = body.next_page ?? null;
      if (next) guard.page(next !== current, next);
    }
  }

  async all<T>(path: string, key: string, query: HttpRequest['query'] = {}): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.pages<T>(path, key, query)) out.push(...page);
    return out;
  }

  /**
   * Downloads bytes (attachment content_url). The shared HttpClient reads bodies as text, so bytes go
   * through `downloadOnce` here with the same retry rules, within a deadline and a size limit;
   * credentials go only to the API's own origin, never to the storage host a content_url may redirect to.
   */
  async download(url: string, maxAttempts = 6): Promise<{ body: Uint8Array; contentType: string }> {
    const target = new URL(url, `${this.baseUrl}/`);
    const headers: Record<string, string> = target.origin === new URL(this.baseUrl).origin ? { authorization: this.authorization } : {};
    for (let attempt = 1; ; ) {
      let failure: HdmError;
      try {
        const res = await downloadOnce(target, { platform: 'zendesk', headers, signal: this.signal, deadlineMs: this.downloadDeadlineMs });
        if (res.status >= 200 && res.status < 300) return { body: res.body, contentType: res.headers['content-type'] ?? 'application/octet-stream' };
        failure = httpError('zendesk', 'GET', res.url, res.status, res.headers, Buffer.from(res.body).toString('utf8'));
      } catch (err) {
        if (err instanceof HdmError && (err.code === 'INTERRUPTED' || err.code === 'ATTACHMENT_FAILED')) throw err;
        failure =
          err instanceof HdmError
            ? err
            : new HdmError('UNREACHABLE', `zendesk attachment download from ${target.origin} failed: ${(err as Error).message}`, {
                context: { platform: 'zendesk', path: target.pathname },
                cause: err,
              });
      }
      if (!failure.retryable || attempt >= maxAttempts) {
        throw new HdmError('ATTACHMENT_FAILED', `could not download attachment ${target.pathname}: ${failure.message}`, {
          retryable: failure.retryable,
          context: { ...failure.context },
          cause: failure,
        });
      }
      attempt += 1;
      const retryAfter = failure.context.retryAfter;
      await pause(retryAfter !== undefined ? Math.min(retryAfter, 120) * 1000 : Math.min(10_000, 100 * 2 ** attempt), this.signal);
      if (this.signal?.aborted) throw interrupted('zendesk', 'GET', target.pathname);
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
