import { FRESHDESK_REQUEST_COSTS } from './freshdesk.costs.ts';
import { ComposedConnector } from '../sdk/composed-connector.ts';
import type { ConnectorConfig, LimitsNow, RateLimitInfo, StreamDescriptor } from '../sdk/contract.ts';
import { limitsOf } from '../sdk/pacer.ts';
import { HdmError, isHdmError } from '../../schemas/errors.ts';
import type { AttachmentMeta, EntityName } from '../../schemas/canonical.ts';
import { FreshdeskAccount } from './freshdesk.account.ts';
import { FreshdeskClient, PAGE_SIZE } from './freshdesk.client.ts';
import { FreshdeskReader, STREAMS } from './freshdesk.reader.ts';
import { FRESHDESK_CAPABILITIES, FRESHDESK_LIMITATIONS, FreshdeskWriter } from './freshdesk.writer.ts';
import type { FdAgent, FdGroup } from './freshdesk.types.ts';

/** Per-minute API limits of Freshdesk's plans; the connector assumes Enterprise until the server says otherwise. */
export const FRESHDESK_PLAN_LIMITS = { growth: 200, pro: 400, enterprise: 700 } as const;

const RECORD_PATHS: Record<EntityName, (id: string) => string> = {
  ticket: (id) => `/a/tickets/${id}`,
  contact: (id) => `/a/contacts/${id}`,
  agent: (id) => `/a/admin/agents/${id}`,
  organization: (id) => `/a/companies/${id}`,
  group: (id) => `/a/admin/groups/${id}`,
  ticketField: () => `/a/admin/ticket_fields`,
  kbCategory: (id) => `/a/solutions/categories/${id}`,
  kbSection: (id) => `/a/solutions/folders/${id}`,
  kbArticle: (id) => `/a/solutions/articles/${id}`,
};

export class FreshdeskConnector extends ComposedConnector {
  readonly platform = 'freshdesk';
  readonly limitations = FRESHDESK_LIMITATIONS;
  readonly capabilities = FRESHDESK_CAPABILITIES;
  readonly requestCosts = FRESHDESK_REQUEST_COSTS;
  readonly client: FreshdeskClient;
  private readonly account: FreshdeskAccount;
  protected readonly reader: FreshdeskReader;
  protected readonly writer: FreshdeskWriter;
  private limit: number = FRESHDESK_PLAN_LIMITS.enterprise;

  constructor(config: ConnectorConfig) {
    super();
    this.client = new FreshdeskClient({
      url: config.url,
      apiKey: config.credentials.apiKey ?? '',
      concurrency: config.concurrency,
      requestsPerMinute: config.requestsPerMinute,
      plan: config.plan,
      highVolume: config.highVolume,
      maxAttempts: config.maxAttempts,
      deadlineMs: config.deadlineMs,
      signal: config.signal,
    });
    this.account = new FreshdeskAccount(this.client);
    this.reader = new FreshdeskReader(this.client, this.account);
    this.writer = new FreshdeskWriter(this.client, this.account);
  }

  /** The plan's buckets as the client paces them now (limits learned from the answers where they state them). */
  limitsNow(): LimitsNow | null {
    return limitsOf(this.client.http.pacer);
  }

  get rateLimit(): RateLimitInfo {
    return { requestsPerMinute: this.limit, pageSize: PAGE_SIZE };
  }

  async check(): Promise<void> {
    try {
      const res = await this.client.send<FdAgent>({ path: '/api/v2/agents/me', maxAttempts: 2 });
      const total = Number(res.headers['x-ratelimit-total']);
      if (Number.isFinite(total) && total > 0) this.limit = total;
    } catch (err) {
      if (isHdmError(err) && err.code === 'AUTH_FAILED') {
        throw new HdmError('AUTH_FAILED', `freshdesk at ${this.client.baseUrl} refused the API key (HTTP ${err.context.httpStatus}): check FRESHDESK_API_KEY and that its agent is active`, {
          retryable: false,
          context: { platform: 'freshdesk', httpStatus: err.context.httpStatus },
        });
      }
      if (isHdmError(err) && (err.code === 'UNREACHABLE' || err.code === 'SERVER_ERROR' || err.code === 'NOT_FOUND' || err.code === 'TIMEOUT')) {
        throw new HdmError('UNREACHABLE', `freshdesk at ${this.client.baseUrl} did not answer like a Freshdesk account (${err.message}); check the URL`, {
          retryable: false,
          context: { platform: 'freshdesk', httpStatus: err.context.httpStatus },
          cause: err,
        });
      }
      throw err;
    }
  }

  override streams(): StreamDescriptor[] {
    return STREAMS.map((s) => ({ ...s }));
  }

  override async openAttachment(attachment: AttachmentMeta): Promise<{ body: Uint8Array; contentType: string }> {
    if (!attachment.url) {
      throw new HdmError('ATTACHMENT_FAILED', `freshdesk attachment ${attachment.sourceId} has no URL`, { context: { platform: 'freshdesk', recordId: attachment.sourceId } });
    }
    // Pre-signed links to Freshdesk's file store, fetched by the client that sends no Authorization (the store refuses one).
    return this.client.files
      .download(attachment.url, {
        what: `attachment ${attachment.sourceId} (${attachment.fileName})`,
        context: { recordId: attachment.sourceId, field: 'attachments' },
        contentType: attachment.contentType,
      })
      .catch((err: unknown) => {
        // A 403 here is usually an expired pre-signed link: reading the ticket again gives a fresh one.
        if (isHdmError(err) && err.code === 'ATTACHMENT_FAILED' && err.context.httpStatus === 403) err.message += ' (an expired link; re-read the ticket)';
        throw err;
      });
  }

  override async count(entity: EntityName): Promise<number | null> {
    // The filter APIs answer every query with the total of all matches, however few results they list.
    const total = async (kind: string) =>
      (await this.client.get<{ total: number }>(`/api/v2/search/${kind}`, { query: `"created_at:>'1970-01-01'"` })).total;
    switch (entity) {
      case 'ticket':
        return total('tickets');
      case 'contact':
        return total('contacts');
      case 'organization':
        return total('companies');
      case 'group':
        return (await this.client.all<FdGroup>('/api/v2/groups')).length;
      case 'agent':
        return (await this.client.all<FdAgent>('/api/v2/agents')).length;
      case 'ticketField': {
        let n = 0;
        for await (const page of this.read('ticketField', null)) n += page.records.length;
        return n;
      }
      default:
        return null;
    }
  }

  recordUrl(entity: EntityName, id: string): string {
    return `${this.client.baseUrl}${RECORD_PATHS[entity](id)}`;
  }

}
