import type { ConnectorConfig } from '../sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { listOf, StallGuard } from '../sdk/response.ts';
import { HttpClient, type HttpRequest, type HttpResponse } from '../sdk/http.ts';
import type { PacerOptions } from '../sdk/pacer.ts';
import { ZENDESK_PLANS, type ZendeskPlan, zendeskLimits } from './zendesk.limits.ts';

/**
 * How a Zendesk client paces: by the named plan's buckets, or (no plan) by the limits the account's answers
 * state, recognising the plan from them, Enterprise until they do; `none` only after a 429.
 */
export function zendeskPacing(config: Pick<ConnectorConfig, 'plan' | 'highVolume'>): PacerOptions {
  const highVolume = config.highVolume === true;
  const plans = ZENDESK_PLANS.flatMap((plan) => [zendeskLimits(plan), ...(plan === 'team' ? [] : [zendeskLimits(plan, { highVolume: true })])]);
  if (config.plan === undefined || config.plan === 'none') {
    return { table: zendeskLimits('enterprise', { highVolume }), mode: config.plan === 'none' ? 'none' : 'auto', plans };
  }
  return { table: zendeskLimits(config.plan as ZendeskPlan, { highVolume }), mode: 'plan', plans };
}

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

  constructor(config: ConnectorConfig) {
    const { email, apiToken } = zendeskCredentials(config);
    this.baseUrl = config.url.replace(/\/+$/, '');
    const authorization = `Basic ${Buffer.from(`${email}/token:${apiToken}`).toString('base64')}`;
    this.http = new HttpClient({
      platform: 'zendesk',
      baseUrl: this.baseUrl,
      headers: { authorization },
      concurrency: config.concurrency ?? 8,
      maxAttempts: config.maxAttempts,
      requestsPerMinute: config.requestsPerMinute ?? 0,
      deadlineMs: config.deadlineMs,
      signal: config.signal,
      pacing: zendeskPacing(config),
    });
  }

  get<T>(path: string, query?: HttpRequest['query'], options: Pick<HttpRequest, 'waitForBudget'> = {}): Promise<T> {
    return this.http.send<T>({ method: 'GET', path, query, ...options }).then((r) => r.body);
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

  /** Downloads bytes (attachment content_url) under the client's retry policy; credentials stay on the API's origin. */
  download(url: string): Promise<{ body: Uint8Array; contentType: string }> {
    return this.http.download(url);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
