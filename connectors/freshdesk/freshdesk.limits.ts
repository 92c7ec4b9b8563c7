import { FRESHDESK_PLANS } from '../../schemas/platforms.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { LimitBucket, LimitTable } from '../sdk/limits.ts';

/**
 * Freshdesk's API limits by plan, as its reference states them:
 * - API v2 reference, "Rate Limit" (https://developers.freshdesk.com/api/#ratelimit) and the support article
 *   "What are the rate limits for the API calls to Freshdesk?" (calls per minute per plan and the maximum per
 *   endpoint: Ticket Create, Ticket Update, Tickets List, Contacts List; trial accounts 50 per minute).
 *   Headers: `X-RateLimit-Total`, `X-RateLimit-Remaining`, `X-RateLimit-Used-CurrentRequest`; 429 with
 *   `Retry-After`.
 * - API v2 reference, Tickets › List All Tickets (`include` = `stats`, `requester`, `description`): each include
 *   costs 2 credits more (with `stats`, 3 credits for the call). Tickets › View a Ticket (`include` =
 *   `conversations`, `requester`, `company`, `stats`): each include costs 1 credit more (with `requester` and
 *   `company`, 3 credits for the call); `conversations` embeds at most ten, oldest first.
 * The reference is silent on whether endpoint limits count credits; here only the account limit does.
 */
export const FRESHDESK_LIMIT_SOURCES = [
  'https://developers.freshdesk.com/api/#ratelimit',
  'https://developers.freshdesk.com/api/#list_all_tickets',
  'https://developers.freshdesk.com/api/#view_a_ticket',
  'https://support.freshdesk.com/support/solutions/articles/225439-what-are-the-rate-limits-for-the-api-calls-to-freshdesk',
];

export { FRESHDESK_PLANS };
export type FreshdeskPlan = (typeof FRESHDESK_PLANS)[number];

interface PlanRow {
  account: number;
  endpoints?: { ticketCreate: number; ticketUpdate: number; ticketsList: number; contactsList: number };
}

export const FRESHDESK_PLAN_LIMITS: Record<FreshdeskPlan, PlanRow> = {
  trial: { account: 50 },
  growth: { account: 200, endpoints: { ticketCreate: 80, ticketUpdate: 80, ticketsList: 20, contactsList: 20 } },
  pro: { account: 400, endpoints: { ticketCreate: 160, ticketUpdate: 160, ticketsList: 100, contactsList: 100 } },
  enterprise: { account: 700, endpoints: { ticketCreate: 280, ticketUpdate: 280, ticketsList: 200, contactsList: 200 } },
};

/** The limit table of a Freshdesk plan. */
export function freshdeskLimits(plan: FreshdeskPlan = 'enterprise'): LimitTable {
  const row = FRESHDESK_PLAN_LIMITS[plan];
  if (!row) {
    throw new HdmError('CONFIG_INVALID', `unknown Freshdesk plan ${String(plan)}: expected one of ${FRESHDESK_PLANS.join(', ')}`, { context: { platform: 'freshdesk' } });
  }
  const buckets: LimitBucket[] = [
    {
      name: 'account',
      description: 'API credits per minute (plan limit)',
      matches: [{ method: '*', path: '/api/v2/**' }],
      limit: row.account,
      windowSeconds: 60,
      countsCredits: true,
      headers: { 'x-ratelimit-total': '{limit}', 'x-ratelimit-remaining': '{remaining}', 'x-ratelimit-used-currentrequest': '{cost}' },
    },
  ];
  if (row.endpoints) {
    const e = row.endpoints;
    buckets.push(
      { name: 'tickets-list', description: 'Tickets List requests per minute', matches: [{ method: 'GET', path: '/api/v2/tickets' }], limit: e.ticketsList, windowSeconds: 60 },
      { name: 'contacts-list', description: 'Contacts List requests per minute', matches: [{ method: 'GET', path: '/api/v2/contacts' }], limit: e.contactsList, windowSeconds: 60 },
      { name: 'ticket-create', description: 'Ticket Create requests per minute', matches: [{ method: 'POST', path: '/api/v2/tickets' }], limit: e.ticketCreate, windowSeconds: 60 },
      { name: 'ticket-update', description: 'Ticket Update requests per minute', matches: [{ method: 'PUT', path: '/api/v2/tickets/:id' }], limit: e.ticketUpdate, windowSeconds: 60 },
    );
  }
  return {
    platform: 'freshdesk',
    plan,
    addOns: [],
    sources: FRESHDESK_LIMIT_SOURCES,
    buckets,
    credits: { queryParam: 'include', perValue: 2, routes: [{ match: { method: 'GET', path: '/api/v2/tickets/:id' }, perValue: 1 }] },
    refusal: { body: { description: 'You have exceeded the limit of requests per minute' } },
  };
}
