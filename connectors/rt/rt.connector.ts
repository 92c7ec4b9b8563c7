import { RT_REQUEST_COSTS } from './rt.costs.ts';
import { ComposedConnector } from '../sdk/composed-connector.ts';
import type {
  ConnectorConfig,
  Limitation,
  RateLimitInfo,
  SourceStatus,
  TargetCapabilities,
} from '../sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import { RtClient, RT_PAGE_SIZE } from './rt.client.ts';
import { RtDirectory, RtReader } from './rt.reader.ts';
import { RT_CAPABILITIES, RT_LIMITATIONS, RtWriter } from './rt.writer.ts';

/** Request Tracker 5 through its REST2 API (`<url>/REST/2.0`), authenticated by an auth token. */
export class RtConnector extends ComposedConnector {
  readonly platform = 'rt';
  readonly limitations: readonly Limitation[] = RT_LIMITATIONS;
  readonly capabilities: TargetCapabilities = RT_CAPABILITIES;
  readonly requestCosts = RT_REQUEST_COSTS;
  /** RT has no API rate limit of its own; this is what one self-hosted server comfortably serves. */
  readonly rateLimit: RateLimitInfo = { requestsPerMinute: 3000, pageSize: RT_PAGE_SIZE };
  readonly client: RtClient;
  private readonly directory: RtDirectory;
  protected readonly reader: RtReader;
  protected readonly writer: RtWriter;

  constructor(config: ConnectorConfig) {
    super();
    this.client = new RtClient(config);
    this.directory = new RtDirectory(this.client);
    this.reader = new RtReader(this.client, this.directory);
    this.writer = new RtWriter(this.client, this.directory);
  }

  async check(): Promise<void> {
    const res = await this.client.http.send<{ Version?: string }>({ method: 'GET', path: 'rt', maxAttempts: 2, okStatuses: [401, 403] });
    if (res.status === 401 || res.status === 403) {
      throw new HdmError('AUTH_FAILED', `rt at ${this.client.baseUrl} refused the token (${res.status}): check credentials.token`, {
        context: { platform: 'rt', httpStatus: res.status, path: '/REST/2.0/rt' },
      });
    }
  }

  sourceStatuses(): Promise<SourceStatus[]> {
    return this.reader.sourceStatuses();
  }

  recordUrl(entity: EntityName, id: string): string {
    const base = this.client.baseUrl;
    switch (entity) {
      case 'ticket':
        return `${base}/Ticket/Display.html?id=${id}`;
      case 'agent':
      case 'contact':
        return `${base}/Admin/Users/Modify.html?id=${id}`;
      case 'group':
        return `${base}/Admin/Queues/Modify.html?id=${id}`;
      case 'ticketField':
        return `${base}/Admin/CustomFields/Modify.html?id=${id}`;
      default:
        return base;
    }
  }

}
