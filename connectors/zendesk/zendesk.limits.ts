import { ZENDESK_PLANS } from '../../schemas/platforms.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { LimitBucket, LimitTable } from '../sdk/limits.ts';

/**
 * Zendesk's API limits by plan, as its reference states them:
 * - Rate limits: https://developer.zendesk.com/api-reference/introduction/rate-limits/ (Zendesk Suite plan
 *   limits; Endpoint rate limits: Incremental Exports, List Tickets, Update Ticket; Job limit; headers
 *   `x-rate-limit`, `ratelimit-*`, `zendesk-ratelimit-tickets-index`, `zendesk-ratelimit-inflight-jobs`).
 * - Incremental Exports → Rate limits: 10 requests per minute, 30 with the High Volume API add-on;
 *   Incremental Sample Export: 10 requests per 20 minutes.
 * - Help Center requests have the plan's limit but do not count against the Support API's, and conversely.
 * - The High Volume API add-on (Suite Growth and above) lifts the account to 2,500 per minute; Enterprise Plus
 *   includes it.
 */
export const ZENDESK_LIMIT_SOURCES = [
  'https://developer.zendesk.com/api-reference/introduction/rate-limits/',
  'https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/',
  'https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting/',
];

export { ZENDESK_PLANS };
export type ZendeskPlan = (typeof ZENDESK_PLANS)[number];

/** Support and Help Center API requests per minute (Zendesk Suite plan limits). */
export const ZENDESK_ACCOUNT_LIMITS: Record<ZendeskPlan, number> = { team: 200, growth: 400, professional: 400, enterprise: 700, 'enterprise-plus': 2500 };
export const ZENDESK_HIGH_VOLUME_LIMIT = 2500;

const HELP_CENTER = [
  { method: '*', path: '/api/v2/help_center/**' },
  { method: '*', path: '/api/v2/guide/**' },
] as const;
/** The paths of the List Tickets endpoint. */
const LIST_TICKETS = ['/api/v2/tickets', '/api/v2/organizations/:id/tickets', '/api/v2/users/:id/tickets/*'];
const ACCOUNT_HEADERS = {
  'x-rate-limit': '{limit}',
  'x-rate-limit-remaining': '{remaining}',
  'ratelimit-limit': '{limit}',
  'ratelimit-remaining': '{remaining}',
  'ratelimit-reset': '{reset}',
};

/**
 * The limit table of a Zendesk plan. `highVolume` adds the High Volume API add-on (not sold with Team;
 * included in Enterprise Plus).
 */
export function zendeskLimits(plan: ZendeskPlan = 'enterprise', options: { highVolume?: boolean } = {}): LimitTable {
  if (!ZENDESK_PLANS.includes(plan)) {
    throw new HdmError('CONFIG_INVALID', `unknown Zendesk plan ${String(plan)}: expected one of ${ZENDESK_PLANS.join(', ')}`, { context: { platform: 'zendesk' } });
  }
  if (options.highVolume && plan === 'team') {
    throw new HdmError('CONFIG_INVALID', 'the High Volume API add-on is sold with Zendesk Suite Growth and above, not Team', { context: { platform: 'zendesk' } });
  }
  const hv = options.highVolume === true || plan === 'enterprise-plus';
  const account = hv ? ZENDESK_HIGH_VOLUME_LIMIT : ZENDESK_ACCOUNT_LIMITS[plan];
  const buckets: LimitBucket[] = [
    {
      name: 'account',
      description: 'Support API requests per minute (plan limit)',
      matches: [{ method: '*', path: '/api/v2/**' }],
      except: [...HELP_CENTER],
      limit: account,
      windowSeconds: 60,
      headers: ACCOUNT_HEADERS,
    },
    {
      name: 'help-center',
      description: 'Help Center API requests per minute: the plan limit, counted apart from Support',
      matches: [...HELP_CENTER],
      limit: account,
      windowSeconds: 60,
      headers: { 'x-rate-limit': '{limit}', 'x-rate-limit-remaining': '{remaining}' },
    },
    {
      name: 'incremental-exports',
      description: 'Incremental export requests per minute',
      matches: [{ method: 'GET', path: '/api/v2/incremental/**' }],
      except: [{ method: 'GET', path: '/api/v2/incremental/*/sample' }],
      limit: hv ? 30 : 10,
      windowSeconds: 60,
      refusal: { body: { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental export API requests per minute exceeded' } },
    },
    {
      name: 'incremental-sample',
      description: 'Incremental sample export requests per 20 minutes',
      matches: [{ method: 'GET', path: '/api/v2/incremental/*/sample' }],
      limit: 10,
      windowSeconds: 1200,
      refusal: { body: { error: 'APIRateLimitExceeded', description: 'Number of allowed incremental sample export API requests exceeded' } },
    },
    {
      name: 'list-tickets',
      description: 'List Tickets requests per minute',
      matches: LIST_TICKETS.map((path) => ({ method: 'GET', path })),
      limit: hv ? 300 : 100,
      windowSeconds: 60,
      headers: { 'zendesk-ratelimit-tickets-index': 'total={limit}; remaining={remaining}; resets={reset}' },
    },
    {
      name: 'list-tickets-deep',
      description: 'List Tickets requests per minute for offset pages past 500',
      matches: LIST_TICKETS.map((path) => ({ method: 'GET', path, queryAbove: { param: 'page', value: 500 } })),
      limit: 50,
      windowSeconds: 60,
    },
    {
      name: 'update-ticket',
      description: 'Update Ticket requests per minute per account',
      matches: [{ method: 'PUT', path: '/api/v2/tickets/:id' }],
      limit: hv ? 300 : 100,
      windowSeconds: 60,
    },
    {
      name: 'update-ticket-per-ticket',
      description: 'updates of one ticket per 10 minutes',
      matches: [{ method: 'PUT', path: '/api/v2/tickets/:id' }],
      limit: 30,
      windowSeconds: 600,
      perKey: 'id',
    },
    {
      name: 'jobs-in-flight',
      description: 'background jobs queued or running at once',
      matches: [
        { method: 'POST', path: '/api/v2/**/create_many' },
        { method: 'POST', path: '/api/v2/**/create_or_update_many' },
        { method: 'PUT', path: '/api/v2/**/update_many' },
        { method: 'DELETE', path: '/api/v2/**/destroy_many' },
      ],
      limit: 30,
      kind: 'concurrent',
      // Zendesk keeps a job's status for an hour at most.
      windowSeconds: 3600,
      headers: { 'zendesk-ratelimit-inflight-jobs': 'total={limit}; remaining={remaining}; resets={reset}' },
      refusal: { body: { error: 'TooManyJobs', description: 'Number of allowed background jobs in flight exceeded' } },
    },
  ];
  return {
    platform: 'zendesk',
    plan,
    addOns: hv && plan !== 'enterprise-plus' ? ['high-volume'] : [],
    sources: ZENDESK_LIMIT_SOURCES,
    buckets,
    refusal: { body: 'Number of allowed API requests per minute exceeded' },
  };
}
