/** The platforms the engine can read from and write to; `connectors/registry.ts` holds one module for each. */
export const PLATFORM_NAMES = ['zendesk', 'freshdesk', 'rt'] as const;

export type PlatformName = (typeof PLATFORM_NAMES)[number];
