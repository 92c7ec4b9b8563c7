import { HdmError } from '../schemas/errors.ts';
import type { PlatformModule } from './sdk/platform.ts';
import { PLATFORM_NAMES, type PlatformName } from '../schemas/platforms.ts';

/** Each platform's module, loaded when first used so a command pays only for the platforms it names. */
const PLATFORMS: Readonly<Record<PlatformName, () => Promise<PlatformModule>>> = Object.freeze({
  zendesk: async () => (await import('./zendesk/index.ts')).zendesk,
  freshdesk: async () => (await import('./freshdesk/index.ts')).freshdesk,
  rt: async () => (await import('./rt/index.ts')).rt,
});

export { PLATFORM_NAMES };

export async function platform(name: string): Promise<PlatformModule> {
  const load = (PLATFORMS as Readonly<Record<string, (() => Promise<PlatformModule>) | undefined>>)[name];
  if (!load) {
    throw new HdmError('CONFIG_INVALID', `unknown platform "${name}"; expected one of ${PLATFORM_NAMES.join(', ')}`);
  }
  return load();
}
