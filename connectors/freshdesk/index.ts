import type { PlatformModule, SandboxOptions } from '../sdk/platform.ts';
import type { ConnectorConfig } from '../sdk/contract.ts';
import { FreshdeskConnector } from './freshdesk.connector.ts';
import { startFreshdeskSandbox } from './sandbox/server.ts';
import type { FreshdeskPlan } from './freshdesk.limits.ts';

export { FreshdeskConnector } from './freshdesk.connector.ts';
export { startFreshdeskSandbox } from './sandbox/server.ts';
export type { FreshdeskSandbox, FreshdeskSandboxOptions } from './sandbox/server.ts';

/** `startSandbox` resolves to a {@link FreshdeskSandbox}; use `startFreshdeskSandbox` for its typed test controls. */
export const freshdesk: PlatformModule = {
  name: 'freshdesk',
  credentialEnv: { apiKey: 'FRESHDESK_API_KEY' },
  createConnector: (config: ConnectorConfig) => new FreshdeskConnector(config),
  // The plan name is checked against the limit tables when the sandbox starts.
  startSandbox: (options: SandboxOptions = {}) => startFreshdeskSandbox({ ...options, plan: options.plan as FreshdeskPlan | undefined }),
};
