import type { RequestCost, RequestCosts } from '../sdk/contract.ts';
import { eventsCanCover, type CommentSource } from './zendesk.comment-events.ts';

/**
 * Requests per record against Zendesk, as the reader and writer spend them: tickets come from the
 * incremental export (1000 per page) with one comment-list request each and one download per
 * attachment (content URLs are on the account's own host), and go in through the
 * ticket import API with every comment in one ticket of a shared create_many job, the comment list read
 * back, plus one upload per attachment. People,
 * organizations and groups are looked up (by stamp or email, name) before they are created. `routes`
 * name the requests whose buckets differ from the account's (exports, Help Center, List Tickets).
 */
const HC = (path: string) => ({ per: 'record' as const, method: 'GET' as const, path: `/api/v2/help_center/${path}` });
export const ZENDESK_REQUEST_COSTS: RequestCosts = {
  read: {
    group: { pageSize: 100 },
    agent: { pageSize: 1000, routes: [{ per: 'page', method: 'GET', path: '/api/v2/incremental/users/cursor' }] },
    organization: { pageSize: 1000, routes: [{ per: 'page', method: 'GET', path: '/api/v2/incremental/organizations' }] },
    contact: { pageSize: 1000, routes: [{ per: 'page', method: 'GET', path: '/api/v2/incremental/users/cursor' }] },
    ticketField: { pageSize: 100 },
    ticket: {
      pageSize: 1000,
      perRecord: 1,
      perAttachment: 1,
      routes: [
        { per: 'page', method: 'GET', path: '/api/v2/incremental/tickets/cursor' },
        { per: 'record', method: 'GET', path: '/api/v2/tickets/1/comments' },
        // Attachment content comes from the account's own host, outside the API's buckets.
        { per: 'attachment', method: 'GET', path: '/attachments/token/x' },
      ],
    },
    kbCategory: { pageSize: 100, routes: [{ ...HC('categories'), per: 'page' }] },
    kbSection: { pageSize: 100, routes: [{ ...HC('sections'), per: 'page' }] },
    kbArticle: { pageSize: 100, perRecord: 1, routes: [{ ...HC('articles'), per: 'page' }, HC('articles/1/translations')] },
  },
  write: {
    group: { perRecord: 2 },
    agent: { perRecord: 3 },
    // A contact or an organization is one `create_or_update`, which matches by external ID (or email) itself.
    organization: { perRecord: 1, routes: [{ per: 'record', method: 'POST', path: '/api/v2/organizations/create_or_update' }] },
    contact: { perRecord: 1, routes: [{ per: 'record', method: 'POST', path: '/api/v2/users/create_or_update' }] },
    ticketField: { perRecord: 1 },
    // The import's share of a create_many job and of the job-status reads (jobs fill with the tickets loaded at
    // once; one Show Many Job Statuses reads all jobs in flight), then the comment list that maps each comment's
    // new ID. The budget bench at 2,000 tickets, 64 ticket loads at once: 278 jobs and 83 status reads (1.18 a
    // ticket) in entity order, 360 and 109 (1.23) in express order: 1.2 here.
    ticket: { perRecord: 1.2, perAttachment: 1, routes: [{ per: 'record', method: 'GET', path: '/api/v2/tickets/1/comments' }, { per: 'attachment', method: 'POST', path: '/api/v2/uploads' }] },
    kbCategory: { perRecord: 3, routes: [{ ...HC('categories'), count: 3 }] },
    kbSection: { perRecord: 3, routes: [{ ...HC('categories/1/sections'), count: 3 }] },
    kbArticle: { perRecord: 4, routes: [{ ...HC('sections/1/articles'), count: 4 }] },
  },
};

/**
 * The ticket read under `source.comments: events` (and `auto`, which reads a full run from the export's
 * beginning the same way): the ticket export's pages, the Incremental Ticket Event Export's pages of up to
 * 1,000 events (its `comment_events` sideload; the export bucket, like the ticket export), and List Comments
 * only for the tickets the events cannot cover.
 */
const EVENTS_TICKET_READ: RequestCost = {
  pageSize: 1000,
  perRecord: 1,
  perAttachment: 1,
  perCommentPage: 1,
  commentPageSize: 1000,
  perRecordFor: (ticket) => !eventsCanCover(ticket),
  assumption:
    'comments from the ticket event export: one event per comment (updates without a comment add events on a real account, ' +
    'about one page per 1,000 more); List Comments for the sampled share of tickets whose first comment is not their ' +
    'description or that show an inline image (the read falls back for more when its window lets events go)',
  routes: [
    { per: 'page', method: 'GET', path: '/api/v2/incremental/tickets/cursor' },
    { per: 'commentPage', method: 'GET', path: '/api/v2/incremental/ticket_events', query: 'include=comment_events' },
    { per: 'record', method: 'GET', path: '/api/v2/tickets/1/comments' },
    { per: 'attachment', method: 'GET', path: '/attachments/token/x' },
  ],
};

/** The request costs of a Zendesk connector reading comments as `comments` says. */
export function zendeskRequestCosts(comments: CommentSource = 'per-ticket'): RequestCosts {
  if (comments === 'per-ticket') return ZENDESK_REQUEST_COSTS;
  return { read: { ...ZENDESK_REQUEST_COSTS.read, ticket: EVENTS_TICKET_READ }, write: ZENDESK_REQUEST_COSTS.write };
}
