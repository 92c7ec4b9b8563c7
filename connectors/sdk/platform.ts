import type { EntityName } from '../../schemas/canonical.ts';
import type { Connector, ConnectorConfig } from './contract.ts';
import type { LimitTable } from './limits.ts';

export interface SandboxOptions {
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Seed of the generated helpdesk. Default 1. */
  seed?: number;
  /** Tickets to generate; 0 gives an empty helpdesk holding only its account owner. Default 0. */
  tickets?: number;
  /** KB articles to generate when tickets > 0. Default 20. */
  articles?: number;
  /**
   * Requests per minute before 429 + Retry-After; null serves unthrottled.
   * Default: the platform's Enterprise plan.
   */
  requestsPerMinute?: number | null;
  /** Largest number of comments after a ticket's description. Default 30. */
  maxComments?: number;
  /** Plan whose API limits the sandbox enforces, as the platform names it. Default: Enterprise. */
  plan?: string;
  /** Adds the platform's high-volume API add-on, where it has one. Default false. */
  highVolume?: boolean;
}

/** A running sandbox, controllable in-process by tests. */
export interface RunningSandbox {
  platform: string;
  /** Base URL to give the connector. */
  url: string;
  /** Credentials the sandbox accepts, in the connector's `credentials` shape. */
  credentials: Record<string, string>;
  /** Environment variables a migration file would read those credentials from. */
  env: Record<string, string>;
  /** Records per canonical entity the sandbox holds now (tickets counted once, not their comments). */
  counts(): Record<EntityName, number>;
  /** API requests served so far (including ones answered 429). */
  requestsServed(): number;
  /** The API limits the sandbox enforces, where it enforces a table of them. */
  readonly limits?: LimitTable;
  close(): Promise<void>;
}

export interface PlatformModule {
  name: string;
  /** Credential keys of `ConnectorConfig.credentials` and the environment variables that carry them by default. */
  credentialEnv: Record<string, string>;
  createConnector(config: ConnectorConfig): Connector;
  startSandbox(options?: SandboxOptions): Promise<RunningSandbox>;
}
