import type { RequestCosts } from '../sdk/contract.ts';

/**
 * Requests per record against Zendesk, as the reader and writer spend them: tickets come from the
 * incremental export (1000 per page) with one comment-list request each and one download per
 * attachment (content URLs are on the account's own host), and go in through the
 * ticket import API with every comment in one request plus one upload per attachment. People,
 * organizations and groups are looked up (by stamp or email, name) before they are created.
 */
export const ZENDESK_REQUEST_COSTS: RequestCosts = {
  read: {
    group: { pageSize: 100 },
    agent: { pageSize: 1000 },
    organization: { pageSize: 1000 },
    contact: { pageSize: 1000 },
    ticketField: { pageSize: 100 },
    ticket: { pageSize: 1000, perRecord: 1, perAttachment: 1 },
    kbCategory: { pageSize: 100 },
    kbSection: { pageSize: 100 },
    kbArticle: { pageSize: 100, perRecord: 1 },
  },
  write: {
    group: { perRecord: 2 },
    agent: { perRecord: 3 },
    organization: { perRecord: 2 },
    contact: { perRecord: 2 },
    ticketField: { perRecord: 1 },
    ticket: { perRecord: 1, perAttachment: 1 },
    kbCategory: { perRecord: 3 },
    kbSection: { perRecord: 3 },
    kbArticle: { perRecord: 4 },
  },
};
