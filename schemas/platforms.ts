/** The platforms the engine can read from and write to; `connectors/registry.ts` holds one module for each. */
export const PLATFORM_NAMES = ['zendesk', 'freshdesk', 'rt'] as const;

export type PlatformName = (typeof PLATFORM_NAMES)[number];

export const ZENDESK_PLANS = ['team', 'growth', 'professional', 'enterprise', 'enterprise-plus'] as const;
export const FRESHDESK_PLANS = ['trial', 'growth', 'pro', 'enterprise'] as const;

/** Plans whose limit tables each platform declares (connectors/<platform>/<platform>.limits.ts). */
export const PLATFORM_PLANS = { zendesk: ZENDESK_PLANS, freshdesk: FRESHDESK_PLANS } as const;
