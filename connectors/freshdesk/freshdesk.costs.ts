import type { RequestCosts } from '../sdk/contract.ts';

/**
 * Requests per record against Freshdesk: a listed ticket is read again whole and its conversations
 * listed (two requests); a created ticket is one multipart request with the description's
 * attachments, then one note or reply per further comment. Contacts are searched for by stamp and listed
 * by email before they are created; companies are looked up by name. `routes` name the requests whose
 * endpoint limits differ from the account's (Tickets List, Contacts List, Ticket Create).
 */
export const FRESHDESK_REQUEST_COSTS: RequestCosts = {
  read: {
    group: { pageSize: 100 },
    agent: { pageSize: 100 },
    organization: { pageSize: 100 },
    contact: { pageSize: 100, routes: [{ per: 'page', method: 'GET', path: '/api/v2/contacts' }] },
    ticketField: { pageSize: 1000 },
    ticket: {
      pageSize: 100,
      perRecord: 2,
      routes: [
        { per: 'page', method: 'GET', path: '/api/v2/tickets' },
        { per: 'record', method: 'GET', path: '/api/v2/tickets/1' },
        { per: 'record', method: 'GET', path: '/api/v2/tickets/1/conversations' },
      ],
    },
    kbCategory: { pageSize: 1000 },
    kbSection: { pageSize: 100, perRecord: 0 },
    kbArticle: { pageSize: 100 },
  },
  write: {
    group: { perRecord: 2 },
    agent: { perRecord: 2 },
    organization: { perRecord: 2 },
    contact: {
      perRecord: 3,
      routes: [
        { per: 'record', method: 'GET', path: '/api/v2/search/contacts' },
        { per: 'record', method: 'GET', path: '/api/v2/contacts' },
        { per: 'record', method: 'POST', path: '/api/v2/contacts' },
      ],
    },
    ticketField: { perRecord: 1 },
    ticket: {
      perRecord: 1,
      perComment: 1,
      routes: [
        { per: 'record', method: 'POST', path: '/api/v2/tickets' },
        { per: 'comment', method: 'POST', path: '/api/v2/tickets/1/notes' },
      ],
    },
    kbCategory: { perRecord: 2 },
    kbSection: { perRecord: 2 },
    kbArticle: { perRecord: 2 },
  },
};
