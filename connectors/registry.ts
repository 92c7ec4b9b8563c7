import { HdmError } from './sdk/errors.ts';
import type { PlatformModule } from './sdk/platform.ts';
import { freshdesk } from './freshdesk/index.ts';
import { zendesk } from './zendesk/index.ts';

export const PLATFORMS: Readonly<Record<string, PlatformModule>> = Object.freeze({ zendesk, freshdesk });

export function platform(name: string): PlatformModule {
  const found = PLATFORMS[name];
  if (!found) {
    throw new HdmError('CONFIG_INVALID', `unknown platform "${name}"; expected one of ${Object.keys(PLATFORMS).join(', ')}`);
  }
  return found;
}
