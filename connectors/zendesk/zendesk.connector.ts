import { zendeskRequestCosts } from './zendesk.costs.ts';
import { ComposedConnector } from '../sdk/composed-connector.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import type {
  ConnectorConfig,
  LimitsNow,
  RateLimitInfo,
  RequestCosts,
} from '../sdk/contract.ts';
import { limitsOf } from '../sdk/pacer.ts';
import { HdmError } from '../../schemas/errors.ts';
import { ZendeskClient } from './zendesk.client.ts';
import { ZendeskReader, type ZendeskReaderOptions } from './zendesk.reader.ts';
import type { ZdUser } from './zendesk.types.ts';
import { ZendeskWriter } from './zendesk.writer.ts';

/** Enterprise plan: 700 requests per minute (incremental exports: 10 per minute of their own). */
export const ZENDESK_RATE_LIMIT: RateLimitInfo = { requestsPerMinute: 700, pageSize: 100 };

export interface ZendeskConnectorConfig extends ConnectorConfig, ZendeskReaderOptions {}

const AGENT_PATHS: Record<EntityName, (id: string) => string> = {
  ticket: (id) => `/agent/tickets/${id}`,
  agent: (id) => `/agent/users/${id}`,
  contact: (id) => `/agent/users/${id}`,
  organization: (id) => `/agent/organizations/${id}`,
  group: (id) => `/admin/people/team/groups/${id}`,
  ticketField: (id) => `/admin/objects-rules/tickets/ticket-fields/${id}`,
  kbCategory: (id) => `/hc/categories/${id}`,
  kbSection: (id) => `/hc/sections/${id}`,
  kbArticle: (id) => `/hc/articles/${id}`,
};

/** Zendesk as a source and a target, over its public REST API v2. */
export class ZendeskConnector extends ComposedConnector {
  readonly platform = 'zendesk';
  private limit = ZENDESK_RATE_LIMIT.requestsPerMinute;
  readonly requestCosts: RequestCosts;
  protected readonly client: ZendeskClient;
  protected readonly reader: ZendeskReader;
  protected readonly writer: ZendeskWriter;

  constructor(config: ZendeskConnectorConfig) {
    super();
    this.client = new ZendeskClient(config);
    this.reader = new ZendeskReader(this.client, config);
    this.writer = new ZendeskWriter(this.client, this.reader);
    this.requestCosts = zendeskRequestCosts(config.comments);
  }

  /** The plan's buckets as the client paces them now (limits learned from the answers where they state them). */
  limitsNow(): LimitsNow | null {
    return limitsOf(this.client.http.pacer);
  }

  /** Enterprise until check() reads the account's own limit from the `X-Rate-Limit` header. */
  get rateLimit(): RateLimitInfo {
    return { requestsPerMinute: this.limit, pageSize: ZENDESK_RATE_LIMIT.pageSize };
  }

  get limitations() {
    return this.writer.limitations;
  }

  get capabilities() {
    return this.writer.capabilities;
  }

  /**
   * GET /users/me. Zendesk answers unauthenticated calls with an anonymous user (id null) rather than
   * 401, so that counts as a failed login too.
   */
  async check(): Promise<void> {
    const res = await this.client.send<{ user?: ZdUser }>({ method: 'GET', path: '/api/v2/users/me.json', maxAttempts: 2 }).catch((err: unknown) => {
      if (err instanceof HdmError && err.code === 'AUTH_FAILED') {
        throw new HdmError('AUTH_FAILED', `zendesk at ${this.client.baseUrl} refused the credentials (${err.context.httpStatus}): check ZENDESK_EMAIL and ZENDESK_API_TOKEN`, {
          context: { platform: 'zendesk', httpStatus: err.context.httpStatus },
        });
      }
      if (err instanceof HdmError && (err.code === 'UNREACHABLE' || err.code === 'SERVER_ERROR' || err.code === 'NOT_FOUND')) {
        throw new HdmError('UNREACHABLE', `zendesk at ${this.client.baseUrl} did not answer as a Zendesk API: ${err.message}`, {
          context: { platform: 'zendesk', httpStatus: err.context.httpStatus },
          cause: err,
        });
      }
      throw err;
    });
    const limit = Number(res.headers['x-rate-limit']);
    if (Number.isFinite(limit) && limit > 0) this.limit = limit;
    const user = res.body?.user;
    if (!user || user.id === null || user.id === undefined) {
      throw new HdmError('AUTH_FAILED', `zendesk at ${this.client.baseUrl} treated the request as anonymous: check ZENDESK_EMAIL and ZENDESK_API_TOKEN`, {
        context: { platform: 'zendesk', httpStatus: res.status },
      });
    }
    if (user.role === 'end-user') {
      throw new HdmError('AUTH_FAILED', `zendesk user ${user.email ?? user.id} is an end-user; the migration needs an admin's API token`, {
        context: { platform: 'zendesk', httpStatus: res.status },
      });
    }
  }

  recordUrl(entity: EntityName, id: string): string {
    return `${this.client.baseUrl}${AGENT_PATHS[entity](id)}`;
  }

}
