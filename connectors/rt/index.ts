import type { PlatformModule } from '../sdk/platform.ts';
import { RtConnector } from './rt.connector.ts';
import { startRtSandbox } from './rt.sandbox.ts';

export { RtConnector } from './rt.connector.ts';
export { RT_CAPABILITIES, RT_LIMITATIONS } from './rt.writer.ts';

/** Request Tracker 5 (REST2). Its "sandbox" is a real RT server started by the project's launcher. */
export const rt: PlatformModule = {
  name: 'rt',
  credentialEnv: { token: 'RT_TOKEN' },
  createConnector: (config) => new RtConnector(config),
  startSandbox: (options) => startRtSandbox(options),
};
