import { HttpClient, type HttpRequest, type HttpResponse } from '../sdk/http.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf } from '../sdk/response.ts';
import type { ConnectorConfig } from '../sdk/contract.ts';

/** A collection page as REST2 returns it. */
export interface RtCollection<T> {
  total?: number;
  count: number;
  page: number;
  pages?: number;
  per_page: number;
  next_page?: string;
  items: T[];
}

/** A reference to another record in REST2 output; `id` is the Name for users unless expanded with `fields[X]=id`. */
export interface RtRef {
  type: string;
  id: string | number;
  _url: string;
  Name?: string;
  EmailAddress?: string;
}

export const RT_PAGE_SIZE = 100;

/** REST2 over HTTP: token auth, JSON, collection paging. */
export class RtClient {
  readonly http: HttpClient;
  readonly baseUrl: string;
  readonly apiUrl: string;

  constructor(config: ConnectorConfig) {
    const token = config.credentials.token;
    if (!token) throw new HdmError('CONFIG_INVALID', 'rt: credentials.token is required (an RT auth token, sent as "Authorization: token …")', { context: { platform: 'rt', field: 'credentials.token' } });
    this.baseUrl = config.url.replace(/\/+$/, '').replace(/\/REST\/2\.0$/, '');
    this.apiUrl = `${this.baseUrl}/REST/2.0`;
    this.http = new HttpClient({
      platform: 'rt',
      baseUrl: `${this.apiUrl}/`,
      headers: { authorization: `token ${token}` },
      concurrency: config.concurrency ?? 8,
      maxAttempts: config.maxAttempts,
      requestsPerMinute: config.requestsPerMinute ?? 0,
      // Large attachments travel base64 in JSON and RT decodes them in Perl: allow time.
      timeoutMs: 180_000,
      deadlineMs: config.deadlineMs,
      signal: config.signal,
    });
  }

  async get<T>(path: string, query?: HttpRequest['query'], okStatuses?: number[]): Promise<HttpResponse<T>> {
    return this.http.send<T>({ method: 'GET', path, query, okStatuses });
  }

  async post<T>(path: string, json: unknown, query?: HttpRequest['query']): Promise<HttpResponse<T>> {
    return this.http.send<T>({ method: 'POST', path, json, query });
  }

  async put<T>(path: string, json: unknown): Promise<HttpResponse<T>> {
    return this.http.send<T>({ method: 'PUT', path, json });
  }

  async delete(path: string): Promise<void> {
    await this.http.send({ method: 'DELETE', path, okStatuses: [404] });
  }

  /**
   * Every item of a collection, page by page. `body` makes it a JSON search (POST); otherwise GET.
   * REST2 caps pages at 100 items.
   */
  async *pages<T>(path: string, query: Record<string, string | number | undefined> = {}, body?: unknown): AsyncGenerator<T[]> {
    for (let page = 1; ; page++) {
      const q = { ...query, page, per_page: RT_PAGE_SIZE };
      const res = body === undefined ? await this.get<RtCollection<T>>(path, q) : await this.http.send<RtCollection<T>>({ method: 'POST', path, json: body, query: q, idempotent: true });
      const items = listOf<T>(res.body, 'items', { platform: 'rt', path: this.http.url(path).pathname });
      if (items.length > 0) yield items;
      if (items.length < RT_PAGE_SIZE || !res.body.next_page) return;
    }
  }

  async all<T>(path: string, query: Record<string, string | number | undefined> = {}, body?: unknown): Promise<T[]> {
    const out: T[] = [];
    for await (const items of this.pages<T>(path, query, body)) out.push(...items);
    return out;
  }

  /** The numeric ID at the end of a REST2 record URL or Location header. */
  static idOf(urlOrPath: string | undefined): string {
    const m = urlOrPath?.match(/\/(\d+)\/?$/);
    if (!m) throw new HdmError('INTERNAL', `rt: expected a record URL ending in a numeric ID, got ${JSON.stringify(urlOrPath)}`);
    return m[1];
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
