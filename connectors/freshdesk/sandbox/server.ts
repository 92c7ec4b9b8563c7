import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EntityName } from '../../../schemas/canonical.ts';
import type { RunningSandbox, SandboxOptions } from '../../sdk/platform.ts';
import { FD_ATTACHMENTS_MAX_BYTES, STAMP_FIELD, choiceLabels, fdNameFromLabel } from '../freshdesk.mapping.ts';
import type { FdAgent, FdArticle, FdAttachment, FdCompany, FdContact, FdConversation, FdFolder, FdGroup, FdTicket, FdTicketField } from '../freshdesk.types.ts';
import { BUSINESS_HOURS, CANNED_RESPONSE_FOLDERS, COMPANY_FIELDS, CONTACT_FIELDS as CONTACT_FIELD_LIST, emailConfigs, ticketForms } from './account-data.ts';
import { conditions, FilterQueryError, matches, parseFilterQuery, type FilterNode } from './filter-query.ts';
import { ADMIN_EMAIL_DOMAIN, LANGUAGES, ROLES, SandboxStore, type StoredAttachment, type StoredConversation, type StoredTicket } from './store.ts';
import { BucketLimiter, type LimitTable, withLimits } from '../../sdk/limits.ts';
import { HttpError as HttpFail, type KitHandler, type KitRequest, type KitServer, type Reply, readRaw, Router, startKitServer } from '../../sdk/sandbox-kit/index.ts';
import { HdmError } from '../../../schemas/errors.ts';
import { type FreshdeskPlan, freshdeskLimits } from '../freshdesk.limits.ts';

export interface FreshdeskSandboxOptions extends SandboxOptions {
  /** API key the sandbox accepts. Default `sandbox-<seed>-key`. */
  apiKey?: string;
  /** Plan whose limits the sandbox enforces. Default `enterprise`. */
  plan?: FreshdeskPlan;
  /** Length of a one-minute rate-limit window in milliseconds; tests shorten it. Default 60000 (Freshdesk's minute). */
  rateLimitWindowMs?: number;
  /** Last page the ticket list serves. Default 300, Freshdesk's ceiling. */
  ticketPageCeiling?: number;
}

export interface SandboxTicketInput {
  subject?: string;
  description?: string;
  status?: number;
  priority?: number;
  type?: string | null;
  requester_id?: number;
  responder_id?: number | null;
  group_id?: number | null;
  company_id?: number | null;
  tags?: string[];
  custom_fields?: Record<string, string | number | boolean | null>;
  /** Source-clock times to give the ticket; default now. */
  created_at?: string;
  updated_at?: string;
}

export interface SandboxConversationInput {
  body: string;
  private?: boolean;
  incoming?: boolean;
  user_id?: number | null;
  created_at?: string;
}

/** The Freshdesk sandbox with the controls tests use (also served under `/__sandbox/…`). */
export interface FreshdeskSandbox extends RunningSandbox {
  apiKey: string;
  /** The limits enforced now (after `requestsPerMinute` or `setRequestsPerMinute`). */
  readonly limits: LimitTable;
  /** Per limit bucket since the limits were last set: requests admitted, refused with 429, credits charged. */
  limitStats(): Record<string, { admitted: number; refused: number; credits: number }>;
  /** Creates a ticket as if through the UI. POST /__sandbox/tickets */
  createTicket(input?: SandboxTicketInput): FdTicket;
  /** Changes a ticket and bumps its updated_at (or sets the given one). PUT /__sandbox/tickets/:id */
  updateTicket(id: number, patch: SandboxTicketInput): FdTicket;
  /** Adds a conversation and bumps the ticket's updated_at. POST /__sandbox/tickets/:id/conversations */
  addConversation(ticketId: number, input: SandboxConversationInput): FdConversation;
  /** Sets updated_at of the given tickets (or the first `count` by ID) to one instant. POST /__sandbox/touch {ids?, count?, updated_at} */
  touchTickets(updatedAt: string, selection: { ids?: number[]; count?: number }): number;
  /** The next `count` API requests are answered with `status` (500 or 429), Retry-After as given (429s: 1 s by default). POST /__sandbox/faults {status, count, retryAfterSeconds?} */
  injectFaults(status: 500 | 429 | 503, count: number, retryAfterSeconds?: number): void;
  /** Changes the account limit (endpoint limits stay); null serves unthrottled. POST /__sandbox/rate-limit {requestsPerMinute} */
  setRequestsPerMinute(limit: number | null): void;
  /** API requests answered 429 so far. */
  rateLimited(): number;
  /** Requests per path pattern, e.g. `GET /api/v2/tickets`. */
  requestLog(): Map<string, number>;
  /** Resolves once seeded tickets are indexed (list requests wait for it anyway). */
  ready: Promise<void>;
}

/**
 * The limit table a sandbox started with `options` enforces: the plan's, with `requestsPerMinute` in place of
 * the account limit; `requestsPerMinute: null` lifts every limit.
 */
export function freshdeskSandboxLimits(options: Pick<FreshdeskSandboxOptions, 'plan' | 'highVolume' | 'requestsPerMinute'> = {}): LimitTable {
  if (options.highVolume) throw new HdmError('CONFIG_INVALID', 'Freshdesk has no high-volume API add-on; pick a plan instead', { context: { platform: 'freshdesk' } });
  const table = freshdeskLimits(options.plan ?? 'enterprise');
  if (options.requestsPerMinute === null) return { ...table, buckets: [] };
  return withLimits(table, { account: options.requestsPerMinute });
}

const validation = (field: string, message: string, code = 'invalid_value', status = 400) =>
  new HttpFail(status, { description: 'Validation failed', errors: [{ field, message, code }] });
const notFound = () => new HttpFail(404, null);

/** A ticket's attachments, its description's and every conversation's, with those of this request: at most 20 MB. */
function checkAttachmentSize(files: { bytes: Uint8Array }[] | undefined, ticket?: StoredTicket): void {
  if (!files || files.length === 0) return;
  const held = ticket ? [...ticket.attachments, ...ticket.conversations.flatMap((c) => c.attachments)].reduce((sum, a) => sum + a.size, 0) : 0;
  const total = files.reduce((sum, f) => sum + f.bytes.length, held);
  if (total > FD_ATTACHMENTS_MAX_BYTES) throw validation('attachments', 'The cumulative size of all the attachments must be less than 20MB', 'invalid_size');
}

type Body = Record<string, unknown> & { __files?: { name: string; type: string; bytes: Uint8Array }[] };

const NUMERIC = new Set(['status', 'priority', 'source', 'requester_id', 'responder_id', 'group_id', 'company_id', 'user_id', 'agent_id', 'ticket_scope', 'visibility', 'position']);

async function readBody(req: IncomingMessage, checkType = true): Promise<Body> {
  const raw = await readRaw(req);
  const type = req.headers['content-type'] ?? '';
  if (raw.length === 0) return {};
  // API v2 reference, Error codes: 415 for a body that is neither JSON nor (for attachments) multipart.
  if (checkType && !/^application\/json\b/i.test(type) && !type.startsWith('multipart/form-data')) {
    throw new HttpFail(415, { code: 'invalid_content_type', message: `Content-Type header is set to ${type || 'nothing'}. It should be set to application/json` });
  }
  if (type.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
    const out: Body = { __files: [] };
    for (const [key, value] of form.entries()) {
      if (typeof value !== 'string') {
        out.__files!.push({ name: value.name, type: value.type || 'application/octet-stream', bytes: new Uint8Array(await value.arrayBuffer()) });
        continue;
      }
      const arr = /^(\w+)\[\]$/.exec(key);
      const obj = /^(\w+)\[([^\]]+)\]$/.exec(key);
      if (arr) ((out[arr[1]] ??= []) as string[]).push(value);
      else if (obj) ((out[obj[1]] ??= {}) as Record<string, string>)[obj[2]] = value;
      else out[key] = NUMERIC.has(key) && value !== '' ? Number(value) : value === 'true' ? true : value === 'false' ? false : value;
    }
    return out;
  }
  try {
    const parsed = JSON.parse(raw.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Body;
  } catch {
    throw new HttpFail(400, { description: 'Validation failed', errors: [{ field: 'body', message: 'Request body has invalid json format', code: 'invalid_json' }] });
  }
}

/** Whether an Accept header admits JSON: absent, `*\/*`, `application/*` or `application/json` (any parameters). */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((range) => {
    const [media, ...params] = range.trim().toLowerCase().split(';');
    if (params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))) return false;
    return media === '*/*' || media === 'application/*' || media === 'application/json';
  });
}

function pageParams(q: URLSearchParams, defaultPerPage = 30): { page: number; perPage: number } {
  const page = q.has('page') ? Number(q.get('page')) : 1;
  const perPage = q.has('per_page') ? Number(q.get('per_page')) : defaultPerPage;
  if (!Number.isInteger(page) || page < 1) throw validation('page', 'It should be a Positive Number', 'invalid_value');
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) throw validation('per_page', 'It should be a Positive Number less than or equal to 100', 'invalid_value');
  return { page, perPage };
}

export async function startFreshdeskSandbox(options: FreshdeskSandboxOptions = {}): Promise<FreshdeskSandbox> {
  const seed = options.seed ?? 1;
  const apiKey = options.apiKey ?? `sandbox-${seed}-key`;
  // API v2 reference, Authentication: the API key is the user name, and any characters do as the password.
  const authorized = (header: string | undefined): boolean => {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && decoded.slice(0, colon) === apiKey;
  };
  const store = new SandboxStore({ seed, tickets: options.tickets ?? 0, articles: options.articles ?? 20, maxComments: options.maxComments ?? 30 });
  const windowMs = options.rateLimitWindowMs ?? 60_000;
  const ceiling = options.ticketPageCeiling ?? 300;
  const limiterOf = (requestsPerMinute: number | null | undefined) =>
    new BucketLimiter(freshdeskSandboxLimits({ plan: options.plan, highVolume: options.highVolume, requestsPerMinute }), { windowScale: windowMs / 60_000 });
  let limiter = limiterOf(options.requestsPerMinute);
  const accountLimit = () => limiter.table.buckets.find((b) => b.name === 'account')?.limit ?? null;
  // Assigned once the server listens; only requests and controls called after that read them.
  let kit: KitServer;
  let base = '';

  // ---------------------------------------------------------------------------------------------
  // Representations

  const attachmentJson = (a: StoredAttachment): FdAttachment => {
    const name = encodeURIComponent(a.name);
    const url = a.bytes
      ? `${base}/__files/u/${a.id}/${name}`
      : `${base}/__files/s/${a.id}/${name}?s=${encodeURIComponent(a.seedId ?? '')}&t=${encodeURIComponent(a.content_type)}&n=${a.size}`;
    return { id: a.id, name: a.name, content_type: a.content_type, size: a.size, attachment_url: url, created_at: a.created_at, updated_at: a.created_at };
  };

  const ticketJson = (t: StoredTicket, full: boolean): FdTicket & Record<string, unknown> => {
    const out: FdTicket & Record<string, unknown> = {
      cc_emails: [],
      fwd_emails: [],
      reply_cc_emails: [],
      fr_escalated: false,
      spam: false,
      email_config_id: null,
      group_id: t.group_id,
      priority: t.priority,
      requester_id: t.requester_id,
      responder_id: t.responder_id,
      source: t.source,
      company_id: t.company_id,
      status: t.status,
      subject: t.subject,
      to_emails: null,
      product_id: null,
      id: t.id,
      type: t.type,
      due_by: t.created_at,
      fr_due_by: t.created_at,
      is_escalated: false,
      custom_fields: { ...allCustomFieldsNull(), ...t.custom_fields },
      created_at: t.created_at,
      updated_at: t.updated_at,
      tags: t.tags,
    };
    if (t.deleted) out.deleted = true;
    if (full) {
      out.description = t.description;
      out.description_text = t.description.replace(/<[^>]+>/g, '');
      out.attachments = t.attachments.map(attachmentJson);
    }
    return out;
  };

  const allCustomFieldsNull = () => Object.fromEntries(store.fields.filter((f) => !f.default).map((f) => [f.name, null]));

  const conversationJson = (c: StoredConversation, ticketId: number): FdConversation => ({
    body: c.body,
    body_text: c.body.replace(/<[^>]+>/g, ''),
    id: c.id,
    incoming: c.incoming,
    private: c.private,
    user_id: c.user_id,
    support_email: null,
    source: c.source,
    ticket_id: ticketId,
    created_at: c.created_at,
    updated_at: c.updated_at,
    attachments: c.attachments.map(attachmentJson),
  });

  const fieldJson = (f: (typeof store.fields)[number], admin: boolean): FdTicketField => {
    const out: FdTicketField = { ...f };
    if (f.choices) out.choices = admin ? f.choices.map((c) => ({ ...c, parent_choice_id: f.id, choices: [] })) : f.choices.map((c) => c.value);
    else delete out.choices;
    return out;
  };

  const folderJson = (f: FdFolder & { category_id: number }) => {
    const category = store.categories.get(f.category_id);
    return {
      ...f,
      hierarchy: [{ level: 0, type: 'category', data: { id: f.category_id, name: category?.name ?? '', language: LANGUAGES.primary } }],
      articles_count: [...store.articles.values()].filter((a) => a.folder_id === f.id).length,
    };
  };

  // ---------------------------------------------------------------------------------------------
  // Validation and writes

  const isUser = (id: unknown) => typeof id === 'number' && (store.contacts.has(id) || store.agents.has(id));
  const customFieldDefs = () => new Map(store.fields.filter((f) => !f.default).map((f) => [f.name, f]));

  function checkCustomFields(values: unknown, existing: Record<string, string | number | boolean | null> = {}): Record<string, string | number | boolean | null> {
    if (values === undefined || values === null) return existing;
    if (typeof values !== 'object' || Array.isArray(values)) throw validation('custom_fields', 'It should be a key/value pair', 'datatype_mismatch');
    const defs = customFieldDefs();
    const out = { ...existing };
    for (const [name, raw] of Object.entries(values as Record<string, unknown>)) {
      const def = defs.get(name);
      if (!def) throw validation(name, 'Unexpected/invalid field in request', 'invalid_field');
      let value = raw as string | number | boolean | null;
      if (value !== null && value !== undefined && value !== '') {
        switch (def.type) {
          case 'custom_checkbox':
            if (value === 'true' || value === 'false') value = value === 'true';
            if (typeof value !== 'boolean') throw validation(name, 'Value set is of type String.It should be a/an Boolean', 'datatype_mismatch');
            break;
          case 'custom_number':
            value = Number(value);
            if (!Number.isInteger(value)) throw validation(name, 'It should be a/an Integer', 'datatype_mismatch');
            break;
          case 'custom_decimal':
            value = Number(value);
            if (!Number.isFinite(value)) throw validation(name, 'It should be a/an Number', 'datatype_mismatch');
            break;
          case 'custom_date':
            if (!/^\d{4}-\d{2}-\d{2}$/.test(String(value))) throw validation(name, 'It should be in the yyyy-mm-dd format', 'invalid_value');
            break;
          case 'custom_dropdown':
            if (!choiceLabels(def.choices).includes(String(value))) {
              throw validation(name, `It should be one of these values: '${choiceLabels(def.choices).join(',')}'`, 'invalid_value');
            }
            break;
          default:
            value = String(value);
        }
      } else value = null;
      out[name] = value;
    }
    return out;
  }

  const TICKET_FIELDS = new Set(['subject', 'description', 'status', 'priority', 'type', 'source', 'requester_id', 'email', 'phone', 'name', 'responder_id', 'group_id', 'company_id', 'tags', 'custom_fields', 'cc_emails', 'due_by', 'fr_due_by', 'email_config_id', 'product_id', 'unique_external_id', '__files']);

  function applyTicket(t: StoredTicket, body: Body, creating: boolean): void {
    for (const key of Object.keys(body)) if (!TICKET_FIELDS.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    checkAttachmentSize(body.__files, t);
    if (creating && body.requester_id === undefined && !body.email && !body.phone && !body.unique_external_id) {
      throw validation('requester_id', 'Please fill at least 1 of requester_id, email, facebook_id, phone, twitter_id, unique_external_id fields', 'missing_field');
    }
    if (body.requester_id !== undefined) {
      if (!isUser(body.requester_id)) throw validation('requester_id', 'There is no contact matching the given requester_id', 'invalid_value');
      t.requester_id = body.requester_id as number;
    } else if (typeof body.email === 'string') {
      const found = store.contacts.withValue('email', body.email)[0];
      t.requester_id = found?.id ?? createContact({ name: String(body.name ?? body.email), email: body.email }).id;
    }
    if (body.status !== undefined) {
      if (![2, 3, 4, 5].includes(body.status as number)) throw validation('status', 'It should be one of these values: 2,3,4,5', 'invalid_value');
      t.status = body.status as number;
    }
    if (body.priority !== undefined) {
      if (![1, 2, 3, 4].includes(body.priority as number)) throw validation('priority', 'It should be one of these values: 1,2,3,4', 'invalid_value');
      t.priority = body.priority as number;
    }
    if (body.type !== undefined) {
      const types = choiceLabels(store.fields.find((f) => f.name === 'ticket_type')?.choices);
      if (body.type !== null && !types.includes(String(body.type))) throw validation('type', `It should be one of these values: '${types.join(',')}'`, 'invalid_value');
      t.type = (body.type as string | null) ?? null;
    }
    if (body.responder_id !== undefined) {
      if (body.responder_id !== null && !store.agents.has(body.responder_id as number)) throw validation('responder_id', 'There is no agent matching the given responder_id', 'invalid_value');
      t.responder_id = body.responder_id as number | null;
    }
    if (body.group_id !== undefined) {
      if (body.group_id !== null && !store.groups.has(body.group_id as number)) throw validation('group_id', 'There is no group matching the given group_id', 'invalid_value');
      t.group_id = body.group_id as number | null;
    }
    if (body.company_id !== undefined) {
      if (body.company_id !== null && !store.companies.has(body.company_id as number)) throw validation('company_id', 'There is no company matching the given company_id', 'invalid_value');
      t.company_id = body.company_id as number | null;
    } else if (creating && t.company_id === null) t.company_id = store.contacts.get(t.requester_id)?.company_id ?? null;
    if (body.subject !== undefined) t.subject = String(body.subject ?? '');
    if (body.description !== undefined) t.description = String(body.description ?? '');
    if (body.source !== undefined) t.source = body.source as number;
    if (body.tags !== undefined) {
      if (!Array.isArray(body.tags)) throw validation('tags', 'It should be a/an Array', 'datatype_mismatch');
      t.tags = [...new Set((body.tags as unknown[]).map(String))];
    }
    t.custom_fields = checkCustomFields(body.custom_fields, t.custom_fields);
    for (const file of body.__files ?? []) t.attachments.push(storeUpload(file));
  }

  function storeUpload(file: { name: string; type: string; bytes: Uint8Array }): StoredAttachment {
    const a: StoredAttachment = { id: store.id('attachment'), name: file.name, content_type: file.type, size: file.bytes.length, created_at: store.now(), bytes: file.bytes };
    store.uploads.set(a.id, a);
    return a;
  }

  function createTicket(body: Body, times: { created_at?: string; updated_at?: string } = {}): StoredTicket {
    const now = store.now();
    const t: StoredTicket = {
      id: 0,
      subject: '',
      description: '',
      status: 2,
      priority: 1,
      type: null,
      source: 2,
      requester_id: 0,
      responder_id: null,
      group_id: null,
      company_id: null,
      tags: [],
      custom_fields: {},
      created_at: times.created_at ?? now,
      updated_at: times.updated_at ?? times.created_at ?? now,
      attachments: [],
      conversations: [],
      deleted: false,
    };
    applyTicket(t, body, true);
    t.id = store.id('ticket');
    store.tickets.set(t.id, t);
    store.touched(t);
    return t;
  }

  function addConversation(t: StoredTicket, body: Body, kind: 'note' | 'reply', at?: string): StoredConversation {
    const allowed = new Set(['body', 'private', 'incoming', 'user_id', 'notify_emails', 'from_email', 'cc_emails', 'bcc_emails', '__files', 'created_at']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    if (typeof body.body !== 'string' || body.body.length === 0) throw validation('body', 'Mandatory attribute missing', 'missing_field');
    checkAttachmentSize(body.__files, t);
    if (body.user_id !== undefined && body.user_id !== null) {
      if (kind === 'reply' ? !store.agents.has(body.user_id as number) : !isUser(body.user_id)) throw validation('user_id', 'There is no user matching the given user_id', 'invalid_value');
    }
    const now = at ?? store.now();
    const me = [...store.agents.values()][0];
    const c: StoredConversation = {
      id: store.id('conversation'),
      body: body.body,
      private: kind === 'reply' ? false : body.private === undefined ? true : Boolean(body.private),
      incoming: Boolean(body.incoming),
      user_id: (body.user_id as number | undefined) ?? me?.id ?? null,
      source: kind === 'reply' ? 0 : 2,
      created_at: now,
      updated_at: now,
      attachments: (body.__files ?? []).map(storeUpload),
    };
    t.conversations.push(c);
    t.updated_at = now > t.updated_at ? now : t.updated_at;
    store.touched(t);
    return c;
  }

  function createContact(body: Body): FdContact {
    const now = store.now();
    return saveContact(store.contact({ id: store.id('user'), name: '', created_at: now, updated_at: now }), body, true);
  }

  // API v2 reference, Contacts › "Create a Contact" / "Update a Contact": the documented attributes.
  const CONTACT_FIELDS = new Set([
    'name', 'email', 'phone', 'mobile', 'twitter_id', 'unique_external_id', 'other_emails', 'company_id', 'view_all_tickets', 'other_companies',
    'address', 'custom_fields', 'description', 'job_title', 'language', 'tags', 'time_zone', '__files',
  ]);
  const CONTACT_TEXT = ['name', 'email', 'phone', 'mobile', 'time_zone', 'unique_external_id', 'twitter_id', 'address', 'description', 'job_title', 'language'] as const;
  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

  function saveContact(c: FdContact, body: Body, creating: boolean): FdContact {
    for (const key of Object.keys(body)) if (!CONTACT_FIELDS.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    const next = { ...c } as FdContact & Record<string, unknown>;
    for (const key of CONTACT_TEXT) {
      if (body[key] === undefined) continue;
      if (body[key] !== null && typeof body[key] !== 'string') throw validation(key, `Value set is of type ${typeof body[key]}.It should be a/an String`, 'datatype_mismatch');
      (next as Record<string, unknown>)[key] = body[key] === '' ? null : body[key];
    }
    if (typeof next.email === 'string') {
      next.email = next.email.toLowerCase();
      if (body.email !== undefined && !EMAIL.test(next.email)) throw validation('email', `It should be in the 'valid email address' format`, 'invalid_value');
    }
    if (body.view_all_tickets !== undefined) {
      if (typeof body.view_all_tickets !== 'boolean') throw validation('view_all_tickets', 'It should be a/an Boolean', 'datatype_mismatch');
      next.view_all_tickets = body.view_all_tickets;
    }
    if (body.other_emails !== undefined) {
      const others = body.other_emails;
      if (!Array.isArray(others) || others.some((e) => typeof e !== 'string' || !EMAIL.test(e))) throw validation('other_emails', `It should contain elements that are in the 'valid email address' format`, 'invalid_value');
      const lower = [...new Set((others as string[]).map((e) => e.toLowerCase()))];
      if (next.email && lower.includes(next.email)) throw validation('other_emails', 'The primary email should not be repeated in other_emails', 'invalid_value');
      for (const e of lower) {
        const holder = store.contacts.withValue('email', e).find((o) => o.id !== c.id && !o.deleted);
        if (holder) throw validation('other_emails', `Email ${e} is already taken by another contact`, 'duplicate_value', 409);
      }
      next.other_emails = lower;
    }
    if (body.other_companies !== undefined) {
      const list = body.other_companies;
      if (!Array.isArray(list)) throw validation('other_companies', 'It should be a/an Array', 'datatype_mismatch');
      for (const entry of list as { company_id?: unknown; view_all_tickets?: unknown }[]) {
        if (typeof entry !== 'object' || entry === null || !store.companies.has(entry.company_id as number)) throw validation('other_companies', 'There is no company matching the given company_id', 'invalid_value');
      }
      next.other_companies = (list as { company_id: number; view_all_tickets?: boolean }[]).map((e) => ({ company_id: e.company_id, view_all_tickets: Boolean(e.view_all_tickets) }));
    }
    if (body.company_id !== undefined) {
      if (body.company_id !== null && !store.companies.has(body.company_id as number)) throw validation('company_id', 'There is no company matching the given company_id', 'invalid_value');
      next.company_id = body.company_id as number | null;
    }
    if (body.tags !== undefined) next.tags = (body.tags as unknown[]).map(String);
    if (body.custom_fields !== undefined) next.custom_fields = { ...next.custom_fields, ...(body.custom_fields as Record<string, never>) };
    if (!next.name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    if (!next.email && !next.phone && !next.mobile && !next.unique_external_id && !body.twitter_id) {
      throw validation('email', 'Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields', 'missing_field');
    }
    const sameKeys = [
      ...(next.email ? store.contacts.withValue('email', next.email) : []),
      ...(next.unique_external_id ? store.contacts.withValue('unique_external_id', next.unique_external_id) : []),
    ];
    for (const other of sameKeys) {
      if (other.id === c.id || other.deleted) continue;
      if (next.email && other.email === next.email) throw validation('email', `It should be a unique value`, 'duplicate_value', 409);
      if (next.unique_external_id && other.unique_external_id === next.unique_external_id) throw validation('unique_external_id', 'It should be a unique value', 'duplicate_value', 409);
    }
    if (next.email && [...store.agents.values()].some((a) => a.contact.email === next.email)) throw validation('email', 'It should be a unique value', 'duplicate_value', 409);
    next.updated_at = creating ? next.updated_at : store.now();
    store.contacts.set(next.id, next);
    return next;
  }

  function saveAgent(body: Body, existing?: FdAgent, from?: FdContact): FdAgent {
    const allowed = new Set(['name', 'email', 'ticket_scope', 'occasional', 'agent_type', 'role_ids', 'group_ids', 'skill_ids', 'signature', 'language', 'time_zone', 'focus_mode']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    const now = store.now();
    if (!existing) {
      const email = String(body.email ?? from?.email ?? '').toLowerCase();
      if (!email) throw validation('email', 'Mandatory attribute missing', 'missing_field');
      if (body.ticket_scope === undefined) throw validation('ticket_scope', 'Mandatory attribute missing', 'missing_field');
      if ([...store.agents.values()].some((a) => a.contact.email === email)) throw validation('email', 'It should be a unique value', 'duplicate_value', 409);
      if (!from && [...store.contacts.values()].some((c) => c.email === email && !c.deleted)) throw validation('email', 'It should be a unique value', 'duplicate_value', 409);
    }
    const groupIds = (body.group_ids as number[] | undefined) ?? existing?.group_ids ?? [];
    for (const g of groupIds) if (!store.groups.has(g)) throw validation('group_ids', `There are no records matching the ids: '${g}'`, 'invalid_value');
    const roleIds = (body.role_ids as number[] | undefined) ?? existing?.role_ids ?? [4];
    const id = existing?.id ?? from?.id ?? store.id('user');
    const agent: FdAgent = existing
      ? { ...existing, group_ids: groupIds, role_ids: roleIds, updated_at: now }
      : {
          id,
          occasional: Boolean(body.occasional),
          ticket_scope: Number(body.ticket_scope),
          type: body.agent_type === 3 ? 'collaborator' : body.agent_type === 2 ? 'field_agent' : 'support_agent',
          group_ids: groupIds,
          role_ids: roleIds,
          available: false,
          contact: {
            name: String(body.name ?? from?.name ?? String(body.email).split('@')[0]),
            email: String(body.email ?? from?.email).toLowerCase(),
            active: false,
            time_zone: (body.time_zone as string | undefined) ?? 'UTC',
            language: 'en',
            created_at: from?.created_at ?? now,
            updated_at: now,
          },
          created_at: now,
          updated_at: now,
        };
    for (const group of store.groups.values()) {
      const ids = new Set(group.agent_ids ?? []);
      if (groupIds.includes(group.id)) ids.add(agent.id);
      else ids.delete(agent.id);
      group.agent_ids = [...ids];
    }
    store.agents.set(agent.id, agent);
    if (from) store.contacts.delete(from.id);
    return agent;
  }

  function saveCompany(body: Body, existing?: FdCompany): FdCompany {
    const allowed = new Set(['name', 'description', 'note', 'domains', 'custom_fields', 'health_score', 'account_tier', 'renewal_date', 'industry']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    const now = store.now();
    const name = body.name !== undefined ? String(body.name) : existing?.name;
    if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    for (const other of store.companies.values()) {
      if (other.id !== existing?.id && other.name.toLowerCase() === name.toLowerCase()) throw validation('name', 'It should be a unique value', 'duplicate_value', 409);
    }
    const company: FdCompany = {
      id: existing?.id ?? store.id('company'),
      name,
      description: body.description !== undefined ? ((body.description as string | null) ?? null) : (existing?.description ?? null),
      note: body.note !== undefined ? ((body.note as string | null) ?? null) : (existing?.note ?? null),
      domains: body.domains !== undefined ? ((body.domains as string[] | null) ?? []) : (existing?.domains ?? []),
      custom_fields: { ...(existing?.custom_fields ?? {}), ...((body.custom_fields as Record<string, never>) ?? {}) },
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    store.companies.set(company.id, company);
    return company;
  }

  function saveGroup(body: Body, existing?: FdGroup): FdGroup {
    const allowed = new Set(['name', 'description', 'agent_ids', 'escalate_to', 'unassigned_for', 'auto_ticket_assign', 'business_hour_id']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    const name = body.name !== undefined ? String(body.name) : existing?.name;
    if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    for (const other of store.groups.values()) if (other.id !== existing?.id && other.name === name) throw validation('name', 'It should be a unique value', 'duplicate_value', 409);
    const now = store.now();
    const group: FdGroup = {
      id: existing?.id ?? store.id('group'),
      name,
      description: body.description !== undefined ? ((body.description as string | null) ?? null) : (existing?.description ?? null),
      agent_ids: (body.agent_ids as number[] | undefined) ?? existing?.agent_ids ?? [],
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    store.groups.set(group.id, group);
    return group;
  }

  const FIELD_TYPES = new Set(['custom_text', 'custom_paragraph', 'custom_checkbox', 'custom_number', 'custom_decimal', 'custom_date', 'custom_dropdown']);

  function saveField(body: Body, existing?: (typeof store.fields)[number]): (typeof store.fields)[number] {
    const allowed = new Set(['label', 'label_for_customers', 'type', 'position', 'customers_can_edit', 'displayed_to_customers', 'required_for_closure', 'required_for_agents', 'required_for_customers', 'choices', 'section_mappings']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    const now = store.now();
    if (!existing) {
      if (!body.label) throw validation('label', 'Mandatory attribute missing', 'missing_field');
      if (!FIELD_TYPES.has(String(body.type))) throw validation('type', `It should be one of these values: '${[...FIELD_TYPES].join(',')}'`, 'invalid_value');
      let name = fdNameFromLabel(String(body.label));
      // Freshdesk keeps API names unique by appending a number.
      while (store.fields.some((f) => f.name === name)) name = `${fdNameFromLabel(String(body.label))}_${store.id('choice')}`;
      const field = {
        id: store.id('field'),
        name,
        label: String(body.label),
        label_for_customers: String(body.label_for_customers ?? body.label),
        description: null,
        position: (body.position as number | undefined) ?? store.fields.length + 1,
        type: String(body.type),
        default: false,
        required_for_closure: Boolean(body.required_for_closure),
        required_for_agents: Boolean(body.required_for_agents),
        required_for_customers: Boolean(body.required_for_customers),
        customers_can_edit: body.customers_can_edit !== false,
        displayed_to_customers: body.displayed_to_customers !== false,
        created_at: now,
        updated_at: now,
      } as (typeof store.fields)[number];
      if (field.type === 'custom_dropdown') field.choices = [];
      existing = field;
      store.fields.push(field);
    } else {
      for (const key of ['label', 'label_for_customers', 'position', 'customers_can_edit', 'displayed_to_customers', 'required_for_closure', 'required_for_agents', 'required_for_customers'] as const) {
        if (body[key] !== undefined) (existing as unknown as Record<string, unknown>)[key] = body[key];
      }
      existing.updated_at = now;
    }
    if (body.choices !== undefined) {
      if (!Array.isArray(body.choices) || !existing.choices) throw validation('choices', 'choices are allowed only for dropdown fields', 'invalid_field');
      existing.choices = (body.choices as { value: string; position?: number; id?: number }[]).map((c, i) => ({ id: c.id ?? store.id('choice'), value: String(c.value), position: c.position ?? i + 1 }));
    }
    return existing;
  }

  // ---------------------------------------------------------------------------------------------
  // Routes

  type Handler = (ctx: { m: RegExpExecArray; q: URLSearchParams; body: () => Promise<Body>; res: ServerResponse; url: URL }) => unknown | Promise<unknown>;
  const routes = new Router<KitHandler<KitRequest>>();
  const route = (method: string, pattern: string, handler: Handler) =>
    routes.add(method, pattern, async ({ req, res, query, url }, m) => {
      res.statusCode = 200;
      const out = await handler({ m, q: query, body: () => readBody(req), res, url });
      return { status: res.statusCode, body: out === undefined ? null : out };
    });

  /** A page of a list with Freshdesk's Link header. */
  const paged = <T>(ctx: Parameters<Handler>[0], items: readonly T[], map: (item: T) => unknown = (x) => x, lastPage = Infinity) => {
    const { page, perPage } = pageParams(ctx.q);
    if (page > lastPage) throw validation('page', `You can only access till page ${lastPage}`, 'invalid_value');
    const start = (page - 1) * perPage;
    const slice = Array.from(items.slice(start, start + perPage));
    if (start + perPage < items.length && page < lastPage) {
      const next = new URL(ctx.url.toString());
      next.searchParams.set('page', String(page + 1));
      ctx.res.setHeader('link', `<${base}${next.pathname}${next.search}>; rel="next"`);
    }
    return slice.map(map);
  };

  const num = (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw notFound();
    return n;
  };
  const must = <T>(value: T | undefined | null): T => {
    if (value === undefined || value === null) throw notFound();
    return value;
  };
  /** API v2 reference, Tickets › "Delete a Ticket" / "Restore a Ticket": a deleted ticket can be viewed and restored, nothing else. */
  const writableTicket = (id: string, res: ServerResponse) => {
    const t = store.ticket(num(id));
    if (!t) throw notFound();
    if (t.deleted) {
      res.setHeader('allow', 'GET');
      throw new HttpFail(405, { code: 'method_not_allowed', message: 'This action is not allowed on a deleted ticket. It should be one of these method(s): GET' });
    }
    return store.mutable(t.id)!;
  };
  const me = () => [...store.agents.values()].find((a) => a.role_ids.includes(1)) ?? [...store.agents.values()][0];

  route('GET', '/api/v2/agents/me', () => me());
  route('GET', '/api/v2/agents', (ctx) => {
    let list = [...store.agents.values()];
    const email = ctx.q.get('email');
    if (email) list = list.filter((a) => a.contact.email === email.toLowerCase());
    return paged(ctx, list);
  });
  route('GET', '/api/v2/agents/:id', ({ m }) => must(store.agents.get(num(m[1]))));
  route('POST', '/api/v2/agents', async ({ body, res }) => {
    res.statusCode = 201;
    return saveAgent(await body());
  });
  route('PUT', '/api/v2/agents/:id', async ({ m, body }) => saveAgent(await body(), must(store.agents.get(num(m[1])))));
  route('DELETE', '/api/v2/agents/:id', ({ m, res }) => {
    const agent = must(store.agents.get(num(m[1])));
    store.agents.delete(agent.id);
    store.contacts.set(agent.id, store.contact({ id: agent.id, name: agent.contact.name, email: agent.contact.email, created_at: agent.created_at, updated_at: store.now() }));
    res.statusCode = 204;
  });
  route('GET', '/api/v2/roles', () => ROLES);
  route('GET', '/api/v2/roles/:id', ({ m }) => must(ROLES.find((r) => r.id === num(m[1]))));
  route('GET', '/api/v2/settings/helpdesk', () => ({ primary_language: LANGUAGES.primary, supported_languages: LANGUAGES.supported, portal_languages: LANGUAGES.supported }));

  route('GET', '/api/v2/groups', (ctx) => paged(ctx, [...store.groups.values()]));
  route('GET', '/api/v2/groups/:id', ({ m }) => must(store.groups.get(num(m[1]))));
  route('POST', '/api/v2/groups', async ({ body, res }) => {
    res.statusCode = 201;
    return saveGroup(await body());
  });
  route('PUT', '/api/v2/groups/:id', async ({ m, body }) => saveGroup(await body(), must(store.groups.get(num(m[1])))));
  route('DELETE', '/api/v2/groups/:id', ({ m, res }) => {
    must(store.groups.get(num(m[1])));
    store.groups.delete(num(m[1]));
    res.statusCode = 204;
  });

  const since = (q: URLSearchParams) => {
    const value = q.get('updated_since');
    if (value === null) return null;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw validation('updated_since', 'It should be in the ISO-8601 format', 'invalid_value');
    return value;
  };
  const isoCmp = (a: string) => Date.parse(a);

  // #list_all_contacts documents email, mobile, phone, company_id, state and updated_since; unique_external_id
  // is not listed there, but public clients filter by it and take the first match (placek/freshdesk-rest,
  // spec/freshdesk-rest/resource/contact_spec.rb), so the live API filters by it: an ignored filter would
  // hand them every contact.
  const CONTACT_LIST_KEYS = ['email', 'phone', 'mobile', 'unique_external_id'] as const;
  route('GET', '/api/v2/contacts', (ctx) => {
    const exact = CONTACT_LIST_KEYS.find((key) => ctx.q.get(key) !== null);
    let list = exact ? store.contacts.withValue(exact, ctx.q.get(exact)!) : [...store.contacts.values()];
    const state = ctx.q.get('state');
    list = list.filter((c) => (state === 'deleted' ? c.deleted : !c.deleted));
    for (const key of CONTACT_LIST_KEYS) {
      const v = ctx.q.get(key);
      if (v !== null) list = list.filter((c) => (key === 'email' ? c.email === v.toLowerCase() : c[key] === v));
    }
    const company = ctx.q.get('company_id');
    if (company !== null) list = list.filter((c) => c.company_id === Number(company));
    const s = since(ctx.q);
    if (s) list = list.filter((c) => isoCmp(c.updated_at) >= isoCmp(s));
    return paged(ctx, list);
  });
  route('GET', '/api/v2/contacts/:id', ({ m }) => must(store.contacts.get(num(m[1]))));
  route('POST', '/api/v2/contacts', async ({ body, res }) => {
    const c = createContact(await body());
    res.statusCode = 201;
    return c;
  });
  route('PUT', '/api/v2/contacts/:id', async ({ m, body }) => saveContact(must(store.contacts.get(num(m[1]))), await body(), false));
  route('DELETE', '/api/v2/contacts/:id', ({ m, res }) => {
    const c = must(store.contacts.get(num(m[1])));
    store.contacts.set(c.id, { ...c, deleted: true, updated_at: store.now() });
    res.statusCode = 204;
  });
  route('DELETE', '/api/v2/contacts/:id/hard_delete', ({ m, q, res }) => {
    const c = must(store.contacts.get(num(m[1])));
    if (!c.deleted && q.get('force') !== 'true') throw validation('id', 'User invalid (not soft deleted)', 'invalid_value');
    store.contacts.delete(c.id);
    res.statusCode = 204;
  });
  // API v2 reference, Contacts › "Make Agent": these parameters only, and the answer is the contact with an `agent` object.
  const MAKE_AGENT_FIELDS = new Set(['occasional', 'signature', 'ticket_scope', 'skill_ids', 'group_ids', 'role_ids', 'type', 'focus_mode']);
  const AGENT_TYPES: Record<string, number> = { support_agent: 1, field_agent: 2, collaborator: 3 };
  route('PUT', '/api/v2/contacts/:id/make_agent', async ({ m, body }) => {
    const c = must(store.contacts.get(num(m[1])));
    if (c.deleted) throw notFound();
    const b = await body();
    for (const key of Object.keys(b)) if (!MAKE_AGENT_FIELDS.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    if (b.type !== undefined && !(String(b.type) in AGENT_TYPES)) throw validation('type', `It should be one of these values: '${Object.keys(AGENT_TYPES).join(',')}'`, 'invalid_value');
    if (b.ticket_scope !== undefined && ![1, 2, 3].includes(b.ticket_scope as number)) throw validation('ticket_scope', 'It should be one of these values: 1,2,3', 'invalid_value');
    if (b.occasional !== undefined && typeof b.occasional !== 'boolean') throw validation('occasional', 'It should be a/an Boolean', 'datatype_mismatch');
    for (const key of ['group_ids', 'role_ids', 'skill_ids']) if (b[key] !== undefined && !Array.isArray(b[key])) throw validation(key, 'It should be a/an Array', 'datatype_mismatch');
    if (!c.email) throw validation('email', 'An email should be associated with the contact', 'inconsistent_state', 409);
    const { type, skill_ids: _skills, focus_mode: _focus, ...rest } = b;
    // Without a payload Freshdesk makes a full-time support agent with global scope.
    const agent = saveAgent({ ticket_scope: 1, ...rest, ...(type !== undefined ? { agent_type: AGENT_TYPES[String(type)] } : {}) } as Body, undefined, c);
    return {
      ...c,
      active: false,
      // Make Agent: "If the contact has other_emails, they will be deleted after conversion."
      other_emails: [],
      updated_at: agent.updated_at,
      agent: {
        available: agent.available ?? false,
        occasional: agent.occasional,
        id: agent.id,
        signature: typeof b.signature === 'string' ? b.signature : null,
        ticket_scope: agent.ticket_scope,
        available_since: null,
        type: agent.type,
        created_at: agent.created_at,
        updated_at: agent.updated_at,
      },
    };
  });
  /**
   * Filter Contacts (API v2 reference `#filter_contacts`): the filter query language of Filter Tickets on
   * the contact fields it lists, and custom contact fields. `unique_external_id` is served too: the
   * writer's stamp look-up sends it and falls back to the documented list filter when it is refused.
   */
  route('GET', '/api/v2/search/contacts', ({ q }) => {
    const tree = filterTree(q.get('query'));
    const only = tree.kind === 'condition' ? tree : null;
    const indexed = only && only.op === '=' && only.quoted && ['email', 'unique_external_id'].includes(only.field) ? (only.field as 'email' | 'unique_external_id') : null;
    const pool = indexed ? store.contacts.withValue(indexed, String(only!.value)) : [...store.contacts.values()];
    const test = recordFilter(tree, CONTACT_FILTER_FIELDS);
    return filtered(pool.filter((c) => !c.deleted && test(c as unknown as Record<string, unknown>)), q);
  });
  route('GET', '/api/v2/companies', (ctx) => {
    let list = [...store.companies.values()];
    const s = since(ctx.q);
    if (s) list = list.filter((c) => isoCmp(c.updated_at) >= isoCmp(s));
    return paged(ctx, list);
  });
  /** Filter Companies (API v2 reference `#filter_companies`): domain, created_at, updated_at and custom company fields. */
  route('GET', '/api/v2/search/companies', ({ q }) => {
    const test = recordFilter(filterTree(q.get('query')), COMPANY_FILTER_FIELDS);
    return filtered([...store.companies.values()].filter((c) => test(c as unknown as Record<string, unknown>)), q);
  });
  route('GET', '/api/v2/companies/autocomplete', ({ q }) => {
    const name = (q.get('name') ?? '').toLowerCase();
    if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    const companies = [...store.companies.values()].filter((c) => c.name.toLowerCase().split(/\s+/).some((w) => w.startsWith(name)) || c.name.toLowerCase().startsWith(name));
    return { companies: companies.map((c) => ({ id: c.id, name: c.name })) };
  });
  route('GET', '/api/v2/companies/:id', ({ m }) => must(store.companies.get(num(m[1]))));
  route('POST', '/api/v2/companies', async ({ body, res }) => {
    res.statusCode = 201;
    return saveCompany(await body());
  });
  route('PUT', '/api/v2/companies/:id', async ({ m, body }) => saveCompany(await body(), must(store.companies.get(num(m[1])))));
  route('DELETE', '/api/v2/companies/:id', ({ m, res }) => {
    must(store.companies.get(num(m[1])));
    store.companies.delete(num(m[1]));
    res.statusCode = 204;
  });

  route('GET', '/api/v2/ticket_fields', ({ q }) => {
    const type = q.get('type');
    return store.fields.filter((f) => !type || f.type === type).map((f) => fieldJson(f, false));
  });
  route('GET', '/api/v2/admin/ticket_fields', () => store.fields.map((f) => fieldJson(f, true)));
  route('GET', '/api/v2/admin/ticket_fields/:id', ({ m }) => fieldJson(must(store.fields.find((f) => f.id === num(m[1]))), true));
  route('POST', '/api/v2/admin/ticket_fields', async ({ body, res }) => {
    res.statusCode = 201;
    return fieldJson(saveField(await body()), true);
  });
  route('PUT', '/api/v2/admin/ticket_fields/:id', async ({ m, body }) => fieldJson(saveField(await body(), must(store.fields.find((f) => f.id === num(m[1])))), true));
  route('DELETE', '/api/v2/admin/ticket_fields/:id', ({ m, res }) => {
    const i = store.fields.findIndex((f) => f.id === num(m[1]) && !f.default);
    if (i < 0) throw notFound();
    store.fields.splice(i, 1);
    res.statusCode = 204;
  });

  const LIST_FILTERS = ['new_and_my_open', 'watching', 'spam', 'deleted'];
  const LIST_INCLUDES = ['requester', 'stats', 'description'];
  const VIEW_INCLUDES = ['conversations', 'requester', 'company', 'stats'];
  /** API v2 reference, Tickets › "List All Tickets" / "View a Ticket": `include` takes only the documented names. */
  const includes = (q: URLSearchParams, allowed: string[]): Set<string> => {
    const raw = q.get('include');
    if (raw === null) return new Set();
    const names = raw.split(',').map((n) => n.trim());
    for (const name of names) if (!allowed.includes(name)) throw validation('include', `It should be one of these values: '${allowed.join(',')}'`, 'invalid_value');
    return new Set(names);
  };
  const requesterJson = (id: number) => {
    const c = store.contacts.get(id);
    const a = c ? undefined : store.agents.get(id);
    return { id, name: c?.name ?? a?.contact.name ?? null, email: c?.email ?? a?.contact.email ?? null, mobile: c?.mobile ?? a?.contact.mobile ?? null, phone: c?.phone ?? a?.contact.phone ?? null };
  };
  const statsJson = (t: StoredTicket) => {
    const reply = t.conversations.find((c) => !c.incoming && !c.private);
    const incoming = [...t.conversations].reverse().find((c) => c.incoming);
    const done = t.status === 4 || t.status === 5;
    return {
      agent_responded_at: reply?.created_at ?? null,
      requester_responded_at: incoming?.created_at ?? null,
      first_responded_at: reply?.created_at ?? null,
      status_updated_at: t.updated_at,
      reopened_at: null,
      resolved_at: done ? t.updated_at : null,
      closed_at: t.status === 5 ? t.updated_at : null,
      pending_since: t.status === 3 ? t.updated_at : null,
    };
  };
  const withIncludes = (json: Record<string, unknown>, t: StoredTicket, names: Set<string>) => {
    if (names.has('description')) {
      json.description = t.description;
      json.description_text = t.description.replace(/<[^>]+>/g, '');
    }
    if (names.has('requester')) json.requester = requesterJson(t.requester_id);
    if (names.has('stats')) json.stats = statsJson(t);
    if (names.has('company')) json.company = t.company_id === null ? {} : { id: t.company_id, name: store.companies.get(t.company_id)?.name ?? null };
    if (names.has('conversations')) json.conversations = t.conversations.slice(0, 10).map((c) => conversationJson(c, t.id));
    return json;
  };

  /**
   * API v2 reference, Tickets › "List All Tickets": the filters that narrow the list. Null when none is
   * given (the indexed path serves it).
   */
  const listPredicate = (q: URLSearchParams): ((t: StoredTicket) => boolean) | null => {
    const tests: ((t: StoredTicket) => boolean)[] = [];
    const filter = q.get('filter');
    if (filter !== null) {
      if (!LIST_FILTERS.includes(filter)) throw validation('filter', `It should be one of these values: '${LIST_FILTERS.join(',')}'`, 'invalid_value');
      const myId = me()?.id ?? null;
      if (filter === 'new_and_my_open') tests.push((t) => t.status === 2 && (t.responder_id === null || t.responder_id === myId));
      // Nobody watches a ticket and nothing is spam until the UI says so; the API cannot set either.
      if (filter === 'watching' || filter === 'spam') tests.push(() => false);
    }
    const requester = q.get('requester_id');
    if (requester !== null) {
      const id = Number(requester);
      if (!isUser(id)) throw validation('requester_id', 'There is no contact matching the given requester_id', 'invalid_value');
      tests.push((t) => t.requester_id === id);
    }
    for (const key of ['email', 'unique_external_id'] as const) {
      const value = q.get(key);
      if (value === null) continue;
      const contact = store.contacts.withValue(key, value).find((c) => !c.deleted);
      const agent = key === 'email' ? [...store.agents.values()].find((a) => a.contact.email === value.toLowerCase()) : undefined;
      const id = contact?.id ?? agent?.id;
      if (id === undefined) throw validation(key, `There is no contact matching the given ${key}`, 'invalid_value');
      tests.push((t) => t.requester_id === id);
    }
    const company = q.get('company_id');
    if (company !== null) {
      const id = Number(company);
      if (!store.companies.has(id)) throw validation('company_id', 'There is no company matching the given company_id', 'invalid_value');
      tests.push((t) => t.company_id === id);
    }
    return tests.length === 0 && filter !== 'deleted' ? null : (t) => tests.every((test) => test(t));
  };

  route('GET', '/api/v2/tickets', async (ctx) => {
    await store.ready;
    const { q } = ctx;
    const orderBy = q.get('order_by') ?? 'created_at';
    const orderType = q.get('order_type') ?? 'desc';
    if (!['created_at', 'updated_at', 'due_by', 'status'].includes(orderBy)) throw validation('order_by', "It should be one of these values: 'created_at,due_by,updated_at,status'");
    if (!['asc', 'desc'].includes(orderType)) throw validation('order_type', "It should be one of these values: 'asc,desc'");
    const names = includes(q, LIST_INCLUDES);
    const predicate = listPredicate(q);
    const s = since(q);
    let ids: ArrayLike<number>;
    if (predicate) {
      // Filtered lists scan: only the unfiltered list (what a migration pages through) needs the index.
      const from = s ? Date.parse(s) / 1000 : Date.now() / 1000 - 30 * 86_400;
      const pool = q.get('filter') === 'deleted' ? [...store.tickets.values()].filter((t) => t.deleted).map((t) => t.id) : Array.from(store.sortedByUpdate());
      const list = pool.filter((id) => (s ? store.updatedOf(id) >= from : store.createdOf(id) >= from) && predicate(store.ticket(id)!));
      const key = (id: number) => (orderBy === 'status' ? store.ticket(id)!.status : orderBy === 'updated_at' ? store.updatedOf(id) : store.createdOf(id));
      list.sort((a, b) => key(a) - key(b) || a - b);
      ids = orderType === 'asc' ? list : list.reverse();
    } else if (orderBy === 'updated_at') {
      const order = store.sortedByUpdate();
      let lo = 0;
      if (s) {
        const t = Math.floor(Date.parse(s) / 1000);
        let hi = order.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (store.updatedOf(order[mid]) < t) lo = mid + 1;
          else hi = mid;
        }
      }
      let view = order.subarray(lo);
      if (!s) {
        const from = Date.now() / 1000 - 30 * 86_400;
        view = view.filter((id) => store.createdOf(id) >= from);
      }
      ids = orderType === 'asc' ? view : view.slice().reverse();
    } else {
      const from = s ? Date.parse(s) / 1000 : Date.now() / 1000 - 30 * 86_400;
      const list = Array.from(store.sortedByUpdate()).filter((id) => (s ? store.updatedOf(id) >= from : store.createdOf(id) >= from));
      const key = (id: number) => (orderBy === 'status' ? store.ticket(id)!.status : store.createdOf(id));
      list.sort((a, b) => key(a) - key(b) || a - b);
      ids = orderType === 'asc' ? list : list.reverse();
    }
    return paged(ctx, ids as unknown as readonly number[], (id) => {
      const t = store.ticket(id as number)!;
      return withIncludes(ticketJson(t, false), t, names);
    }, ceiling);
  });
  route('GET', '/api/v2/tickets/:id', ({ m, q }) => {
    const t = store.ticket(num(m[1]));
    if (!t) throw notFound();
    return withIncludes(ticketJson(t, true), t, includes(q, VIEW_INCLUDES));
  });
  route('POST', '/api/v2/tickets', async ({ body, res }) => {
    const t = createTicket(await body());
    res.statusCode = 201;
    return ticketJson(t, true);
  });
  route('PUT', '/api/v2/tickets/:id', async ({ m, body, res }) => {
    const t = writableTicket(m[1], res);
    applyTicket(t, await body(), false);
    t.updated_at = store.now() > t.updated_at ? store.now() : t.updated_at;
    store.touched(t);
    return ticketJson(t, true);
  });
  route('DELETE', '/api/v2/tickets/:id', ({ m, res }) => {
    const t = writableTicket(m[1], res);
    t.deleted = true;
    t.updated_at = store.now() > t.updated_at ? store.now() : t.updated_at;
    store.touched(t);
    res.statusCode = 204;
  });
  route('PUT', '/api/v2/tickets/:id/restore', ({ m, res }) => {
    const t = store.ticket(num(m[1]));
    if (!t || !t.deleted) throw notFound();
    const stored = store.mutable(t.id)!;
    stored.deleted = false;
    stored.updated_at = store.now() > stored.updated_at ? store.now() : stored.updated_at;
    store.touched(stored);
    res.statusCode = 204;
  });
  route('GET', '/api/v2/tickets/:id/conversations', (ctx) => {
    const t = store.ticket(num(ctx.m[1]));
    if (!t) throw notFound();
    return paged(ctx, t.conversations, (c) => conversationJson(c, t.id));
  });
  for (const kind of ['notes', 'reply'] as const) {
    route('POST', `/api/v2/tickets/:id/${kind}`, async ({ m, body, res }) => {
      const t = writableTicket(m[1], res);
      const c = addConversation(t, await body(), kind === 'notes' ? 'note' : 'reply');
      res.statusCode = 201;
      return conversationJson(c, t.id);
    });
  }
  /** API v2 reference, "Filter Tickets": the fields a query may name, and custom fields of these types. */
  const FILTER_FIELDS: Record<string, 'id' | 'number' | 'tag' | 'type' | 'date'> = {
    agent_id: 'id',
    group_id: 'id',
    priority: 'number',
    status: 'number',
    tag: 'tag',
    type: 'type',
    due_by: 'date',
    fr_due_by: 'date',
    created_at: 'date',
    updated_at: 'date',
  };
  const FILTER_CUSTOM_TYPES = new Set(['custom_text', 'custom_number', 'custom_checkbox', 'custom_dropdown']);
  const DAY = 86_400;

  /** One condition as a test on a ticket ID; the ticket itself is generated only when a condition needs more than its times. */
  const filterCondition = (c: Extract<FilterNode, { kind: 'condition' }>): ((id: number, t: () => StoredTicket) => boolean) => {
    const bad = (message: string) => validation(c.field, message, 'invalid_value');
    const kind = FILTER_FIELDS[c.field];
    const numeric = (v: unknown) => (typeof v === 'number' ? v : null);
    const compare = (actual: number | null) => {
      if (c.value === null) return actual === null;
      if (actual === null) return false;
      const want = c.value as number;
      return c.op === '=' ? actual === want : c.op === '>=' ? actual >= want : actual <= want;
    };
    if (kind === 'id' || kind === 'number') {
      if (!(typeof c.value === 'number' || (kind === 'id' && c.value === null))) throw bad(`It should be a/an ${kind === 'id' ? 'Integer or null' : 'Integer'}`);
      const key = c.field === 'agent_id' ? 'responder_id' : (c.field as 'group_id' | 'priority' | 'status');
      return (_id, t) => compare(numeric(t()[key]));
    }
    if (kind === 'tag' || kind === 'type') {
      if (c.op !== '=') throw bad('It should be compared with :');
      if (!(c.quoted || (kind === 'type' && c.value === null))) throw bad("It should be a string in single quotes");
      if (kind === 'tag') return (_id, t) => t().tags.includes(String(c.value));
      return (_id, t) => (c.value === null ? t().type === null : t().type === c.value);
    }
    if (kind === 'date') {
      const text = String(c.value);
      let from: number;
      let to: number;
      if (c.quoted && /^\d{4}-\d{2}-\d{2}$/.test(text)) {
        from = Date.parse(`${text}T00:00:00Z`) / 1000;
        to = from + DAY;
      } else if (c.quoted && !Number.isNaN(Date.parse(text))) {
        from = Math.floor(Date.parse(text) / 1000);
        to = from + 1;
      } else throw bad("It should be a date in UTC format, e.g. '2024-01-31'");
      if (Number.isNaN(from)) throw bad("It should be a date in UTC format, e.g. '2024-01-31'");
      // The sandbox's due dates are the creation time (see ticketJson).
      return (id) => {
        const v = c.field === 'updated_at' ? store.updatedOf(id) : store.createdOf(id);
        return c.op === '=' ? v >= from && v < to : c.op === '>=' ? v >= from : v < to;
      };
    }
    const def = customFieldDefs().get(c.field) ?? customFieldDefs().get(`cf_${c.field}`);
    if (!def || !FILTER_CUSTOM_TYPES.has(def.type)) throw validation(c.field, 'Unexpected/invalid field in request', 'invalid_field');
    const value = (t: StoredTicket) => t.custom_fields[def.name] ?? null;
    if (def.type === 'custom_number') {
      if (!(typeof c.value === 'number' || c.value === null)) throw bad('It should be a/an Integer');
      return (_id, t) => compare(numeric(value(t())));
    }
    if (c.op !== '=') throw bad('It should be compared with :');
    if (def.type === 'custom_checkbox') {
      if (typeof c.value !== 'boolean') throw bad('It should be a/an Boolean');
      return (_id, t) => (value(t()) ?? false) === c.value;
    }
    if (!(c.quoted || c.value === null)) throw bad("It should be a string in single quotes");
    return (_id, t) => (c.value === null ? value(t()) === null : value(t()) === c.value);
  };

  route('GET', '/api/v2/search/tickets', async ({ q }) => {
    await store.ready;
    let tree: FilterNode;
    try {
      tree = parseFilterQuery(q.get('query'));
    } catch (err) {
      if (err instanceof FilterQueryError) throw validation('query', err.message, 'invalid_value');
      throw err;
    }
    const page = q.has('page') ? Number(q.get('page')) : 1;
    if (!Number.isInteger(page) || page < 1 || page > 10) throw validation('page', 'It should be a Positive Number less than or equal to 10', 'invalid_value');
    const only = tree.kind === 'condition' ? tree : null;
    // The stamp look-up every ticket write may make: served from the stamp index, not a scan.
    if (only && only.op === '=' && only.quoted && (only.field === STAMP_FIELD || `cf_${only.field}` === STAMP_FIELD)) {
      const t = store.byStamp(String(only.value));
      return { results: t && page === 1 ? [ticketJson(t, false)] : [], total: t ? 1 : 0 };
    }
    const tests = new Map(conditions(tree).map((c) => [c, filterCondition(c)]));
    const hits: number[] = [];
    for (const id of store.sortedByUpdate()) {
      let cached: StoredTicket | undefined;
      const ticket = () => (cached ??= store.ticket(id)!);
      if (matches(tree, (c) => tests.get(c)!(id, ticket))) hits.push(id);
    }
    return { results: hits.slice((page - 1) * 30, page * 30).map((id) => ticketJson(store.ticket(id)!, false)), total: hits.length };
  });

  // Solutions
  route('GET', '/api/v2/solutions/categories', () => [...store.categories.values()]);
  route('GET', '/api/v2/solutions/categories/:id', ({ m }) => must(store.categories.get(num(m[1]))));
  const saveCategory = (body: Body, existing?: { id: number; created_at: string }) => {
    const name = body.name !== undefined ? String(body.name) : (existing as { name?: string } | undefined)?.name;
    if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    for (const c of store.categories.values()) if (c.id !== existing?.id && c.name === name) throw validation('name', 'It should be a unique value', 'duplicate_value', 409);
    const now = store.now();
    const prev = existing ? store.categories.get(existing.id) : undefined;
    const category = { id: existing?.id ?? store.id('kb'), name, description: body.description !== undefined ? ((body.description as string | null) ?? null) : (prev?.description ?? null), created_at: existing?.created_at ?? now, updated_at: now };
    store.categories.set(category.id, category);
    return category;
  };
  route('POST', '/api/v2/solutions/categories', async ({ body, res }) => {
    res.statusCode = 201;
    return saveCategory(await body());
  });
  route('PUT', '/api/v2/solutions/categories/:id', async ({ m, body }) => saveCategory(await body(), must(store.categories.get(num(m[1])))));
  route('DELETE', '/api/v2/solutions/categories/:id', ({ m, res }) => {
    const id = must(store.categories.get(num(m[1]))).id;
    for (const f of [...store.folders.values()]) if (f.category_id === id) deleteFolder(f.id);
    store.categories.delete(id);
    res.statusCode = 204;
  });
  const deleteFolder = (id: number) => {
    for (const a of [...store.articles.values()]) if (a.folder_id === id) store.articles.delete(a.id);
    store.folders.delete(id);
  };
  route('GET', '/api/v2/solutions/categories/:id/folders', ({ m }) => {
    const id = must(store.categories.get(num(m[1]))).id;
    return [...store.folders.values()].filter((f) => f.category_id === id).map(folderJson);
  });
  const saveFolder = (body: Body, categoryId: number, existing?: FdFolder & { category_id: number }) => {
    const name = body.name !== undefined ? String(body.name) : existing?.name;
    if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
    for (const f of store.folders.values()) if (f.id !== existing?.id && f.category_id === categoryId && f.name === name) throw validation('name', 'It should be a unique value', 'duplicate_value', 409);
    const now = store.now();
    const folder = {
      id: existing?.id ?? store.id('kb'),
      name,
      description: body.description !== undefined ? ((body.description as string | null) ?? null) : (existing?.description ?? null),
      visibility: (body.visibility as number | undefined) ?? existing?.visibility ?? 1,
      category_id: categoryId,
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
    store.folders.set(folder.id, folder);
    return folderJson(folder);
  };
  route('POST', '/api/v2/solutions/categories/:id/folders', async ({ m, body, res }) => {
    const category = must(store.categories.get(num(m[1])));
    res.statusCode = 201;
    return saveFolder(await body(), category.id);
  });
  route('GET', '/api/v2/solutions/folders/:id', ({ m }) => folderJson(must(store.folders.get(num(m[1])))));
  route('PUT', '/api/v2/solutions/folders/:id', async ({ m, body }) => {
    const folder = must(store.folders.get(num(m[1])));
    return saveFolder(await body(), folder.category_id, folder);
  });
  route('DELETE', '/api/v2/solutions/folders/:id', ({ m, res }) => {
    deleteFolder(must(store.folders.get(num(m[1]))).id);
    res.statusCode = 204;
  });
  route('GET', '/api/v2/solutions/folders/:id/articles', (ctx) => {
    const id = must(store.folders.get(num(ctx.m[1]))).id;
    return paged(ctx, [...store.articles.values()].filter((a) => a.folder_id === id));
  });
  const checkLanguage = (language: string) => {
    if (!LANGUAGES.supported.includes(language)) throw validation('language_code', `It should be one of these values: '${LANGUAGES.supported.join(',')}'`, 'invalid_value');
  };
  route('GET', '/api/v2/solutions/folders/:id/articles/:lang', (ctx) => {
    const id = must(store.folders.get(num(ctx.m[1]))).id;
    checkLanguage(ctx.m[2]);
    const list = [...store.articles.values()].filter((a) => a.folder_id === id).flatMap((a) => store.translations.get(a.id)?.get(ctx.m[2]) ?? []);
    return paged(ctx, list);
  });
  const saveArticle = (body: Body, folderId: number, existing?: FdArticle): FdArticle => {
    const allowed = new Set(['title', 'description', 'status', 'tags', 'seo_data', 'agent_id', 'type']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) throw validation(key, 'Unexpected/invalid field in request', 'invalid_field');
    if (!existing) {
      for (const key of ['title', 'description', 'status']) if (body[key] === undefined) throw validation(key, 'Mandatory attribute missing', 'missing_field');
    }
    if (body.status !== undefined && ![1, 2].includes(body.status as number)) throw validation('status', 'It should be one of these values: 1,2', 'invalid_value');
    if (body.agent_id !== undefined && !store.agents.has(body.agent_id as number)) throw validation('agent_id', 'There is no agent matching the given agent_id', 'invalid_value');
    const folder = store.folders.get(folderId)!;
    const now = store.now();
    return {
      id: existing?.id ?? store.id('kb'),
      type: 1,
      category_id: folder.category_id,
      folder_id: folder.id,
      title: body.title !== undefined ? String(body.title) : existing!.title,
      description: body.description !== undefined ? String(body.description) : existing!.description,
      status: (body.status as number | undefined) ?? existing!.status,
      agent_id: (body.agent_id as number | undefined) ?? existing?.agent_id ?? me()?.id ?? null,
      tags: (body.tags as string[] | undefined) ?? existing?.tags ?? [],
      created_at: existing?.created_at ?? now,
      updated_at: now,
    };
  };
  route('POST', '/api/v2/solutions/folders/:id/articles', async ({ m, body, res }) => {
    const folder = must(store.folders.get(num(m[1])));
    const article = saveArticle(await body(), folder.id);
    store.articles.set(article.id, article);
    res.statusCode = 201;
    return article;
  });
  route('GET', '/api/v2/solutions/articles/:id', ({ m }) => must(store.articles.get(num(m[1]))));
  route('PUT', '/api/v2/solutions/articles/:id', async ({ m, body }) => {
    const existing = must(store.articles.get(num(m[1])));
    const article = saveArticle(await body(), existing.folder_id, existing);
    store.articles.set(article.id, article);
    return article;
  });
  route('DELETE', '/api/v2/solutions/articles/:id', ({ m, res }) => {
    must(store.articles.get(num(m[1])));
    store.articles.delete(num(m[1]));
    store.translations.delete(num(m[1]));
    res.statusCode = 204;
  });
  route('GET', '/api/v2/solutions/articles/:id/:lang', ({ m }) => {
    must(store.articles.get(num(m[1])));
    checkLanguage(m[2]);
    return must(store.translations.get(num(m[1]))?.get(m[2]));
  });
  for (const method of ['POST', 'PUT'] as const) {
    route(method, '/api/v2/solutions/articles/:id/:lang', async ({ m, body, res }) => {
      const base = must(store.articles.get(num(m[1])));
      checkLanguage(m[2]);
      const byLanguage = store.translations.get(base.id) ?? new Map<string, FdArticle>();
      const existing = byLanguage.get(m[2]);
      if (method === 'PUT' && !existing) throw notFound();
      if (method === 'POST' && existing) throw validation('language_code', 'Translation already exists', 'duplicate_value', 409);
      const translated = saveArticle(await body(), base.folder_id, existing ?? { ...base, title: '', description: '', status: 1 });
      byLanguage.set(m[2], { ...translated, id: base.id });
      store.translations.set(base.id, byLanguage);
      if (method === 'POST') res.statusCode = 201;
      return byLanguage.get(m[2]);
    });
  }

  // Solution category and folder translations (Solutions › "Create/View/Update a translated solution
  // category" and "... folder"): `{id}/{language}`, POST to add, PUT to change, each language once.
  const kbTranslations = new Map<string, { name: string; description: string | null; created_at: string; updated_at: string }>();
  for (const [kind, items] of [['categories', store.categories], ['folders', store.folders]] as const) {
    const holder = (id: string) => must((items as Map<number, { id: number; name: string; description: string | null }>).get(num(id)));
    route('GET', `/api/v2/solutions/${kind}/:id/:lang`, ({ m }) => {
      const base = holder(m[1]);
      checkLanguage(m[2]);
      const t = must(kbTranslations.get(`${kind}:${base.id}:${m[2]}`));
      return { ...(kind === 'folders' ? folderJson(base as FdFolder & { category_id: number }) : base), ...t, id: base.id, language: m[2] };
    });
    for (const method of ['POST', 'PUT'] as const) {
      route(method, `/api/v2/solutions/${kind}/:id/:lang`, async ({ m, body, res }) => {
        const base = holder(m[1]);
        checkLanguage(m[2]);
        const key = `${kind}:${base.id}:${m[2]}`;
        const existing = kbTranslations.get(key);
        if (method === 'PUT' && !existing) throw notFound();
        if (method === 'POST' && existing) throw validation('language_code', 'Translation already exists', 'duplicate_value', 409);
        const b = await body();
        const allowed = new Set(['name', 'description', ...(kind === 'folders' ? ['visibility'] : [])]);
        for (const k of Object.keys(b)) if (!allowed.has(k)) throw validation(k, 'Unexpected/invalid field in request', 'invalid_field');
        const name = b.name !== undefined ? String(b.name) : existing?.name;
        if (!name) throw validation('name', 'Mandatory attribute missing', 'missing_field');
        const now = store.now();
        kbTranslations.set(key, {
          name,
          description: b.description !== undefined ? ((b.description as string | null) ?? null) : (existing?.description ?? null),
          created_at: existing?.created_at ?? now,
          updated_at: now,
        });
        if (method === 'POST') res.statusCode = 201;
        return { ...(kind === 'folders' ? folderJson(base as FdFolder & { category_id: number }) : base), ...kbTranslations.get(key), id: base.id, language: m[2] };
      });
    }
  }

  // Account settings a migration reads (see account-data.ts for their sources).
  route('GET', '/api/v2/contact_fields', () => CONTACT_FIELD_LIST);
  route('GET', '/api/v2/company_fields', () => COMPANY_FIELDS);
  route('GET', '/api/v2/ticket-forms', () => ticketForms(store.fields));
  route('GET', '/api/v2/ticket-forms/:id', ({ m }) => must(ticketForms(store.fields).find((f) => f.id === num(m[1]))));
  route('GET', '/api/v2/products', (ctx) => paged(ctx, []));
  route('GET', '/api/v2/products/:id', () => {
    throw notFound();
  });
  route('GET', '/api/v2/email_configs', (ctx) => paged(ctx, emailConfigs(ADMIN_EMAIL_DOMAIN)));
  route('GET', '/api/v2/email_configs/:id', ({ m }) => must(emailConfigs(ADMIN_EMAIL_DOMAIN).find((c) => c.id === num(m[1]))));
  route('GET', '/api/v2/business_hours', (ctx) => paged(ctx, BUSINESS_HOURS));
  route('GET', '/api/v2/business_hours/:id', ({ m }) => must(BUSINESS_HOURS.find((b) => b.id === num(m[1]))));
  route('GET', '/api/v2/canned_response_folders', () => CANNED_RESPONSE_FOLDERS);
  route('GET', '/api/v2/canned_response_folders/:id', ({ m }) => ({ ...must(CANNED_RESPONSE_FOLDERS.find((f) => f.id === num(m[1]))), canned_responses: [] }));
  route('GET', '/api/v2/canned_response_folders/:id/responses', ({ m }) => {
    must(CANNED_RESPONSE_FOLDERS.find((f) => f.id === num(m[1])));
    return [];
  });
  route('GET', '/api/v2/canned_responses/:id', () => {
    throw notFound();
  });

  // Time Entries: per ticket (list, create) and for the account (list with filters).
  type TimeEntry = { id: number; billable: boolean; note: string | null; timer_running: boolean; agent_id: number; ticket_id: number; time_spent: string; executed_at: string; start_time: string; created_at: string; updated_at: string };
  const timeEntries: TimeEntry[] = [];
  let nextTimeEntry = 0;
  route('GET', '/api/v2/tickets/:id/time_entries', (ctx) => {
    const t = must(store.ticket(num(ctx.m[1])));
    return paged(ctx, timeEntries.filter((e) => e.ticket_id === t.id));
  });
  route('POST', '/api/v2/tickets/:id/time_entries', async ({ m, body, res }) => {
    const t = writableTicket(m[1], res);
    const b = await body();
    const allowed = new Set(['agent_id', 'billable', 'executed_at', 'note', 'start_time', 'time_spent', 'timer_running']);
    for (const k of Object.keys(b)) if (!allowed.has(k)) throw validation(k, 'Unexpected/invalid field in request', 'invalid_field');
    if (b.agent_id !== undefined && !store.agents.has(b.agent_id as number)) throw validation('agent_id', 'There is no agent matching the given agent_id', 'invalid_value');
    if (b.time_spent !== undefined && !/^\d{1,3}:[0-5]\d$/.test(String(b.time_spent))) throw validation('time_spent', 'It should be in the hh:mm format', 'invalid_value');
    for (const k of ['billable', 'timer_running']) if (b[k] !== undefined && typeof b[k] !== 'boolean') throw validation(k, 'It should be a/an Boolean', 'datatype_mismatch');
    const now = store.now();
    const entry: TimeEntry = {
      id: ++nextTimeEntry,
      billable: b.billable === undefined ? true : Boolean(b.billable),
      note: b.note === undefined ? null : String(b.note),
      timer_running: Boolean(b.timer_running),
      agent_id: (b.agent_id as number | undefined) ?? me()!.id,
      ticket_id: t.id,
      time_spent: String(b.time_spent ?? '00:00'),
      executed_at: b.executed_at ? fdTime(String(b.executed_at)) : now,
      start_time: b.start_time ? fdTime(String(b.start_time)) : now,
      created_at: now,
      updated_at: now,
    };
    timeEntries.push(entry);
    res.statusCode = 201;
    return entry;
  });
  route('GET', '/api/v2/time_entries', (ctx) => {
    const { q } = ctx;
    let list = timeEntries.slice();
    const agent = q.get('agent_id');
    if (agent !== null) list = list.filter((e) => e.agent_id === Number(agent));
    const company = q.get('company_id');
    if (company !== null) list = list.filter((e) => store.ticket(e.ticket_id)?.company_id === Number(company));
    const billable = q.get('billable');
    if (billable !== null) list = list.filter((e) => e.billable === (billable === 'true'));
    for (const [key, keep] of [['executed_after', (a: number, b: number) => a >= b], ['executed_before', (a: number, b: number) => a <= b]] as const) {
      const value = q.get(key);
      if (value === null) continue;
      if (Number.isNaN(Date.parse(value))) throw validation(key, 'It should be in the ISO-8601 format', 'invalid_value');
      list = list.filter((e) => keep(Date.parse(e.executed_at), Date.parse(value)));
    }
    return paged(ctx, list);
  });

  // Surveys and satisfaction ratings: the default survey; ratings added per ticket, listed for the account.
  const RATINGS = [103, 102, 101, 100, -101, -102, -103];
  const SURVEYS = [{ id: 1, title: 'Default Survey', active: true, questions: [{ id: 'default_question', label: 'How would you rate your overall satisfaction for the resolution provided by the agent?', accepted_ratings: RATINGS, default: true }], created_at: '2020-01-01T00:00:00Z', updated_at: '2020-01-01T00:00:00Z' }];
  type Rating = { id: number; survey_id: number; user_id: number; agent_id: number | null; feedback: string | null; group_id: number | null; ticket_id: number; ratings: Record<string, number>; created_at: string; updated_at: string };
  const ratings: Rating[] = [];
  route('GET', '/api/v2/surveys', () => SURVEYS);
  route('POST', '/api/v2/tickets/:id/satisfaction_ratings', async ({ m, body, res }) => {
    const t = writableTicket(m[1], res);
    const b = await body();
    for (const k of Object.keys(b)) if (!['ratings', 'feedback'].includes(k)) throw validation(k, 'Unexpected/invalid field in request', 'invalid_field');
    const given = b.ratings as Record<string, unknown> | undefined;
    if (!given || typeof given !== 'object') throw validation('ratings', 'Mandatory attribute missing', 'missing_field');
    for (const [q, v] of Object.entries(given)) {
      if (q !== 'default_question') throw validation(q, 'Unexpected/invalid field in request', 'invalid_field');
      if (!RATINGS.includes(v as number)) throw validation(q, `It should be one of these values: '${RATINGS.join(',')}'`, 'invalid_value');
    }
    const now = store.now();
    const rating: Rating = { id: ratings.length + 1, survey_id: 1, user_id: t.requester_id, agent_id: t.responder_id, feedback: b.feedback === undefined ? null : String(b.feedback), group_id: t.group_id, ticket_id: t.id, ratings: given as Record<string, number>, created_at: now, updated_at: now };
    ratings.push(rating);
    res.statusCode = 201;
    return rating;
  });
  route('GET', '/api/v2/surveys/satisfaction_ratings', (ctx) => {
    let list = ratings.slice();
    const since = ctx.q.get('created_since');
    if (since !== null) {
      if (Number.isNaN(Date.parse(since))) throw validation('created_since', 'It should be in the ISO-8601 format', 'invalid_value');
      list = list.filter((r) => Date.parse(r.created_at) >= Date.parse(since));
    }
    const user = ctx.q.get('user_id');
    if (user !== null) list = list.filter((r) => r.user_id === Number(user));
    return paged(ctx, list);
  });

  // ---------------------------------------------------------------------------------------------
  // Test controls

  const controls = {
    createTicket(input: SandboxTicketInput = {}): FdTicket {
      const requester = input.requester_id ?? [...store.contacts.values()].find((c) => !c.deleted)?.id ?? me()!.id;
      const { created_at, updated_at, ...rest } = input;
      const t = createTicket({ subject: 'Sandbox ticket', description: '<p>Created in the sandbox</p>', ...rest, requester_id: requester } as Body, {
        created_at: created_at && fdTime(created_at),
        updated_at: updated_at && fdTime(updated_at),
      });
      return ticketJson(t, true);
    },
    updateTicket(id: number, patch: SandboxTicketInput): FdTicket {
      if (!store.ticket(id) || store.ticket(id)!.deleted) throw notFound();
      const t = store.mutable(id)!;
      const { updated_at, created_at: _c, ...rest } = patch;
      applyTicket(t, rest as Body, false);
      t.updated_at = updated_at ? fdTime(updated_at) : store.now();
      store.touched(t);
      return ticketJson(t, true);
    },
    addConversation(ticketId: number, input: SandboxConversationInput): FdConversation {
      if (!store.ticket(ticketId)) throw notFound();
      const t = store.mutable(ticketId)!;
      const { created_at, ...rest } = input;
      const c = addConversation(t, rest as Body, 'note', created_at && fdTime(created_at));
      return conversationJson(c, t.id);
    },
    touchTickets(updatedAt: string, selection: { ids?: number[]; count?: number }): number {
      const value = fdTime(updatedAt);
      const ids = selection.ids ?? Array.from({ length: Math.min(selection.count ?? 0, store.seedCount + store.tickets.size) }, (_, i) => i + 1);
      let n = 0;
      for (const id of ids) {
        const t = store.ticket(id);
        if (!t || t.deleted) continue;
        store.mutable(id)!.updated_at = value;
        store.touched(t);
        n += 1;
      }
      return n;
    },
    injectFaults(status: 500 | 429 | 503, count: number, retryAfterSeconds?: number): void {
      kit.faults.push({ status, count, retryAfterSeconds });
    },
    setRequestsPerMinute(value: number | null): void {
      limiter = limiterOf(value);
    },
  };

  async function control(method: string, path: string, req: IncomingMessage): Promise<unknown> {
    const body = method === 'GET' ? {} : await readBody(req, false);
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/__sandbox/counts') return store.counts();
    if (method === 'GET' && path === '/__sandbox/stats') return { requestsServed: kit.served(), rateLimited: kit.rateLimited() };
    if (method === 'POST' && path === '/__sandbox/tickets') return controls.createTicket(body as SandboxTicketInput);
    if (method === 'PUT' && (m = /^\/__sandbox\/tickets\/(\d+)$/.exec(path))) return controls.updateTicket(Number(m[1]), body as SandboxTicketInput);
    if (method === 'POST' && (m = /^\/__sandbox\/tickets\/(\d+)\/conversations$/.exec(path))) return controls.addConversation(Number(m[1]), body as unknown as SandboxConversationInput);
    if (method === 'POST' && path === '/__sandbox/touch') return { touched: controls.touchTickets(String(body.updated_at), body as { ids?: number[]; count?: number }) };
    if (method === 'POST' && path === '/__sandbox/faults') {
      controls.injectFaults(Number(body.status) as 500, Number(body.count ?? 1), body.retryAfterSeconds === undefined ? undefined : Number(body.retryAfterSeconds));
      return { queued: kit.faults.pending() };
    }
    if (method === 'POST' && path === '/__sandbox/rate-limit') {
      controls.setRequestsPerMinute(body.requestsPerMinute === null ? null : Number(body.requestsPerMinute));
      return { requestsPerMinute: accountLimit() };
    }
    throw notFound();
  }

  // ---------------------------------------------------------------------------------------------
  // Server

  function serveFile(path: string, url: URL): Reply {
    const m = /^\/__files\/(s|u)\/(\d+)\//.exec(path);
    if (!m) return { status: 404, body: null };
    let attachment: StoredAttachment | undefined;
    if (m[1] === 'u') attachment = store.uploads.get(Number(m[2]));
    else {
      const size = Number(url.searchParams.get('n'));
      attachment = { id: Number(m[2]), name: '', content_type: url.searchParams.get('t') ?? 'application/octet-stream', size, created_at: '', seedId: url.searchParams.get('s') ?? m[2] };
    }
    if (!attachment) return { status: 404, body: null };
    return { bytes: store.attachmentBytes(attachment), headers: { 'content-type': attachment.content_type } };
  }

  const rateHeaders = (ctx: KitRequest) => (ctx.admission?.ok ? ctx.admission.headers : {});
  kit = await startKitServer<KitRequest>(
    {
      routes,
      limiter: () => limiter,
      context: (base) => base,
      control: { prefix: '/__sandbox/', handle: async (ctx) => ({ body: await control(ctx.method, ctx.path, ctx.req) }) },
      outside: (ctx) => {
        if (ctx.path.startsWith('/__files/')) return serveFile(ctx.path, ctx.url);
        if (!ctx.path.startsWith('/api/')) return { status: 404, body: null };
        return undefined;
      },
      apiHeaders: { 'x-freshdesk-api-version': 'latest=v2; requested=v2' },
      faultBody: (status) => ({ description: status === 429 ? 'Too many requests' : 'Unexpected server error' }),
      guard: (ctx) => {
        if (!authorized(ctx.req.headers.authorization)) {
          return { status: 401, body: { code: 'invalid_credentials', message: 'You have to be logged in to perform this action.' }, headers: rateHeaders(ctx) };
        }
        if (!acceptsJson(ctx.req.headers.accept)) {
          return { status: 406, body: { code: 'invalid_accept_header', message: 'Only application/json and */* are supported in the Accept header' }, headers: rateHeaders(ctx) };
        }
        return undefined;
      },
      noRoute: (_ctx, allowed) => (allowed.length > 0 ? { status: 405, body: { code: 'method_not_allowed', message: 'Method not allowed' } } : { status: 404, body: null }),
      internalError: (err) => ({ description: 'Internal server error', message: String(err?.message ?? err) }),
      textStrings: false,
    },
    { port: options.port, host: options.host },
  );
  base = kit.url;

  return {
    platform: 'freshdesk',
    url: base,
    apiKey,
    credentials: { apiKey },
    env: { FRESHDESK_API_KEY: apiKey },
    ready: store.ready,
    counts: (): Record<EntityName, number> => store.counts(),
    requestsServed: () => kit.served(),
    rateLimited: () => kit.rateLimited(),
    requestLog: () => new Map(kit.servedByRoute()),
    get limits() {
      return limiter.table;
    },
    limitStats: () => limiter.stats(),
    ...controls,
    close: () => kit.close(),
  };
}

/** Freshdesk's timestamp format: UTC, whole seconds. */
function fdTime(value: string): string {
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `"field:'value'"` or `"field:value"` of Freshdesk's filter query language (single condition). */
/** `created_at:>'YYYY-MM-DD'`, the filter query that matches a whole account: its instant in ms, else null. */
type FieldKind = 'string' | 'number' | 'boolean' | 'date' | 'list';
const CONTACT_FILTER_FIELDS: Record<string, FieldKind> = {
  active: 'boolean',
  company_id: 'number',
  twitter_id: 'string',
  email: 'list',
  unique_external_id: 'string',
  language: 'string',
  mobile: 'string',
  phone: 'string',
  tag: 'list',
  time_zone: 'string',
  created_at: 'date',
  updated_at: 'date',
};
const COMPANY_FILTER_FIELDS: Record<string, FieldKind> = { domain: 'list', created_at: 'date', updated_at: 'date' };

function filterTree(query: string | null): FilterNode {
  try {
    return parseFilterQuery(query);
  } catch (err) {
    if (err instanceof FilterQueryError) throw validation('query', err.message, 'invalid_value');
    throw err;
  }
}

/**
 * A filter query as a test on a contact or company: dates compare by day (`:` the whole day, `:>` from,
 * `:<` up to), numbers with `:>`/`:<`, the rest by equality; a field the reference does not list, nor a
 * custom field of the record, is refused as Filter Tickets refuses it.
 */
function recordFilter(tree: FilterNode, fields: Record<string, FieldKind>): (r: Record<string, unknown>) => boolean {
  const DAY = 86_400_000;
  for (const c of conditions(tree)) {
    if (fields[c.field] !== 'date') continue;
    const text = String(c.value);
    if (!c.quoted || Number.isNaN(Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text))) {
      throw validation(c.field, "It should be a date in UTC format, e.g. '2024-01-31'", 'invalid_value');
    }
  }
  return (r) =>
    matches(tree, (c) => {
      const kind = fields[c.field];
      const custom = (r.custom_fields ?? {}) as Record<string, unknown>;
      if (!kind && !(c.field in custom) && !(`cf_${c.field}` in custom)) throw validation(c.field, 'Unexpected/invalid field in request', 'invalid_field');
      const raw = kind ? (c.field === 'tag' ? r.tags : c.field === 'email' ? [r.email, ...((r.other_emails as string[] | undefined) ?? [])] : c.field === 'domain' ? r.domains : r[c.field]) : (custom[c.field] ?? custom[`cf_${c.field}`]);
      if (kind === 'date') {
        const text = String(c.value);
        const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
        const from = Date.parse(day ? `${text}T00:00:00Z` : text);
        const to = from + (day ? DAY : 1000);
        const v = Date.parse(String(raw));
        return c.op === '=' ? v >= from && v < to : c.op === '>=' ? v >= from : v < to;
      }
      if (kind === 'list') return Array.isArray(raw) && (raw as unknown[]).some((x) => typeof x === 'string' && x.toLowerCase() === String(c.value).toLowerCase());
      if (c.value === null) return raw === null || raw === undefined;
      if (typeof c.value === 'number' && typeof raw === 'number') return c.op === '=' ? raw === c.value : c.op === '>=' ? raw >= c.value : raw <= c.value;
      return raw === c.value || (typeof raw === 'string' && typeof c.value === 'string' && raw.toLowerCase() === c.value.toLowerCase());
    });
}

/** A filter query's answer: 30 results per page, at most 10 pages, and the total of every match. */
function filtered<T>(all: T[], q: URLSearchParams, render: (item: T) => unknown = (item) => item): { results: unknown[]; total: number } {
  const page = Math.max(1, Number(q.get('page') ?? 1) || 1);
  if (page > 10) throw validation('page', 'It should be a Positive Number less than or equal to 10', 'invalid_value');
  return { results: all.slice((page - 1) * 30, page * 30).map(render), total: all.length };
}

