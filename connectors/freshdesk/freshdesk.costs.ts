import type { RequestCosts } from '../sdk/contract.ts';

/**
 * Requests per record against Freshdesk: a listed ticket is read again whole and its conversations
 * listed (two requests); a created ticket is one multipart request with the description's
 * attachments, then one note or reply per further comment. Contacts and companies are searched for
 * before they are created.
 */
export const FRESHDESK_REQUEST_COSTS: RequestCosts = {
  read: {
    group: { pageSize: 100 },
    agent: { pageSize: 100 },
    organization: { pageSize: 100 },
    contact: { pageSize: 100 },
    ticketField: { pageSize: 1000 },
    ticket: { pageSize: 100, perRecord: 2 },
    kbCategory: { pageSize: 1000 },
    kbSection: { pageSize: 100, perRecord: 0 },
    kbArticle: { pageSize: 100 },
  },
  write: {
    group: { perRecord: 2 },
    agent: { perRecord: 2 },
    organization: { perRecord: 2 },
    contact: { perRecord: 2 },
    ticketField: { perRecord: 1 },
    ticket: { perRecord: 1, perComment: 1 },
    kbCategory: { perRecord: 2 },
    kbSection: { perRecord: 2 },
    kbArticle: { perRecord: 2 },
  },
};
