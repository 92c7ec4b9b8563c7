import type { RequestCosts } from '../sdk/contract.ts';

/**
 * Requests per record against RT's REST2: a ticket is read with its history and each transaction's
 * attachments; a created ticket is one request, then one correspond or comment per further comment.
 */
export const RT_REQUEST_COSTS: RequestCosts = {
  read: {
    group: { pageSize: 100 },
    agent: { pageSize: 100 },
    contact: { pageSize: 100 },
    ticketField: { pageSize: 100 },
    ticket: { pageSize: 100, perRecord: 2, perComment: 1 },
  },
  write: {
    group: { perRecord: 2 },
    agent: { perRecord: 2 },
    contact: { perRecord: 2 },
    ticketField: { perRecord: 2 },
    ticket: { perRecord: 1, perComment: 1 },
  },
};
