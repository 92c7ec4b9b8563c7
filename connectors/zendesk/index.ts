import type { ConnectorConfig } from '../sdk/contract.ts';
import type { PlatformModule } from '../sdk/platform.ts';
import { ZendeskConnector, type ZendeskConnectorConfig } from './zendesk.connector.ts';
import { startZendeskSandbox, type ZendeskSandbox, type ZendeskSandboxOptions } from './sandbox/server.ts';

export { ZendeskConnector, ZENDESK_RATE_LIMIT, type ZendeskConnectorConfig } from './zendesk.connector.ts';
export { ZENDESK_CAPABILITIES, ZENDESK_LIMITATIONS } from './zendesk.writer.ts';
export { startZendeskSandbox, type FaultSpec, type TouchEntity, type ZendeskSandbox, type ZendeskSandboxOptions } from './sandbox/server.ts';

/** The Zendesk platform module, typed with the connector's and sandbox's extra options and controls. */
export interface ZendeskPlatform extends PlatformModule {
  createConnector(config: ConnectorConfig | ZendeskConnectorConfig): ZendeskConnector;
  startSandbox(options?: ZendeskSandboxOptions): Promise<ZendeskSandbox>;
}

export const zendesk: ZendeskPlatform = {
  name: 'zendesk',
  credentialEnv: { email: 'ZENDESK_EMAIL', apiToken: 'ZENDESK_API_TOKEN' },
  createConnector: (config) => new ZendeskConnector(config),
  startSandbox: (options) => startZendeskSandbox(options),
};
