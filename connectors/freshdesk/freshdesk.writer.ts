import type { Limitation, PrepareResult, StampedRecord, TargetCapabilities, TargetRef, WriteContext } from '../sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { HttpResponse } from '../sdk/http.ts';
import { downloadAttachment, keepLinked, megabytes, withOverflow, type Overflow } from '../sdk/attachment-overflow.ts';
import type {
  Agent,
  AttachmentMeta,
  Comment,
  Contact,
  EntityName,
  EntityTypes,
  Group,
  KbArticle,
  KbCategory,
  KbSection,
  Organization,
  Ticket,
  TicketField,
} from '../../schemas/canonical.ts';
import { ENTITIES } from '../../schemas/canonical.ts';
import type { FreshdeskAccount } from './freshdesk.account.ts';
import { FormData, type FreshdeskClient } from './freshdesk.client.ts';
import { EPOCH, ticketListPages } from './freshdesk.reader.ts';
import {
  agentToFd,
  articleToFd,
  choiceLabels,
  companyToFd,
  contactToFd,
  creationLabel,
  descriptionCommentId,
  FD_ATTACHMENTS_MAX_BYTES,
  fdFieldName,
  fieldTypeToFd,
  groupToFd,
  localeToFd,
  MULTIVALUES_MARKER,
  multiValuesFieldName,
  num,
  STAMP_FIELD,
  STAMP_FIELD_LABEL,
  ticketStamp,
  ticketToFd,
  TYPE_TO_FD,
} from './freshdesk.mapping.ts';
import type { FdAdminChoice, FdAgent, FdArticle, FdCategory, FdContact, FdConversation, FdFolder, FdGroup, FdTicket, FdTicketField } from './freshdesk.types.ts';

export const FRESHDESK_LIMITATIONS: readonly Limitation[] = [
  {
    entity: 'ticket',
    field: 'createdAt',
    description: 'Freshdesk stamps created_at itself when the API creates a ticket; the original creation time cannot be written.',
  },
  {
    entity: 'ticket',
    field: 'comments.createdAt',
    description: 'Conversations get the time they are added through the API; original comment times cannot be written.',
  },
  {
    entity: 'ticket',
    field: 'comments.0.authorId',
    description: "The first comment becomes the ticket's description, whose author Freshdesk always reports as the requester: an agent who opened the ticket is not kept as its author.",
  },
  {
    entity: 'ticket',
    field: 'priority',
    description: 'Freshdesk requires a priority on every ticket: a ticket without one is created with Low, which reads back as low.',
  },
  {
    entity: 'ticket',
    field: 'comments.attachments.inline',
    description: 'Inline images are uploaded as ordinary attachments of their comment; Freshdesk does not list them as inline.',
  },
  {
    entity: 'organization',
    field: 'tags',
    description: 'Freshdesk companies have no tags.',
  },
];

export const FRESHDESK_CAPABILITIES: TargetCapabilities = {
  // find() falls back from the filter API (which lags) to the ticket list, which shows a write at once.
  writeVisibleWithinMs: 3_000,
  ticketStatuses: ['open', 'pending', 'solved', 'closed'],
  ticketPriorities: ['low', 'normal', 'high', 'urgent'],
  ticketTypes: ['question', 'incident', 'problem', 'task'],
  entities: ENTITIES,
  inlineImages: false,
  // Tickets and notes get the time of the API call, notes the API user when their author is gone:
  // the mapper writes the originals into a header line and the original_created_at field.
  setsOwnTimes: true,
  // No attachmentBytesPerComment: Freshdesk's 20 MB is per ticket, so continuation notes cannot carry
  // more; the writer carries what fits and links (options.attachmentLinks) or names the rest.
  attachmentBytesPerTicket: FD_ATTACHMENTS_MAX_BYTES,
  fieldTypeFallbacks: {
    multiselect: 'a dropdown of its options plus a hidden paragraph field holding the chosen labels (values kept)',
    regex: 'a text field; the pattern is not enforced',
  },
};

const DELETE_PATHS: Record<EntityName, (id: string) => string> = {
  ticket: (id) => `/api/v2/tickets/${id}`,
  contact: (id) => `/api/v2/contacts/${id}/hard_delete?force=true`,
  agent: (id) => `/api/v2/agents/${id}`,
  organization: (id) => `/api/v2/companies/${id}`,
  group: (id) => `/api/v2/groups/${id}`,
  ticketField: (id) => `/api/v2/admin/ticket_fields/${id}`,
  kbCategory: (id) => `/api/v2/solutions/categories/${id}`,
  kbSection: (id) => `/api/v2/solutions/folders/${id}`,
  kbArticle: (id) => `/api/v2/solutions/articles/${id}`,
};

const invalid = (entity: EntityName, recordId: string, field: string, message: string) =>
  new HdmError('INVALID_RECORD', `${entity} ${recordId}: ${message}`, { context: { platform: 'freshdesk', entity, recordId, field } });

/** How old the target's agent list may be before a user missing from it makes it be fetched again, in ms. */
const AGENT_LIST_MAX_AGE_MS = 10_000;

/** Writes planned canonical records through Freshdesk API v2. */
export class FreshdeskWriter {
  private sourceFields: TicketField[] = [];
  private fieldsReady: Promise<void> | null = null;
  private agentList: { ids: Promise<Set<number>>; fetchedAt: number } | null = null;

  constructor(
    private readonly client: FreshdeskClient,
    private readonly account: FreshdeskAccount,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Ticket fields

  /**
   * Creates the stamp field and the `Task` ticket type now. The source's custom fields are created
   * before the first ticket is written (unless the ticketField stream created them first, which it
   * does when it runs): that way the ticketField stream's own loads are what creates them.
   */
  async prepare(context: { ticketFields: TicketField[] }): Promise<PrepareResult> {
    this.sourceFields = context.ticketFields;
    this.fieldsReady = null;
    const fields = await this.adminFields();
    if (!fields.some((f) => f.name === STAMP_FIELD)) {
      await this.createNamed(
        {
          label: STAMP_FIELD_LABEL,
          label_for_customers: STAMP_FIELD_LABEL,
          type: 'custom_text',
          customers_can_edit: false,
          displayed_to_customers: false,
          required_for_agents: false,
          required_for_customers: false,
          required_for_closure: false,
        },
        STAMP_FIELD,
        STAMP_FIELD_LABEL,
      );
    }
    const typeField = fields.find((f) => f.default && (f.name === 'ticket_type' || f.type === 'default_ticket_type'));
    if (typeField) {
      const existing = (Array.isArray(typeField.choices) ? typeField.choices : []) as FdAdminChoice[];
      const labels = new Set(choiceLabels(existing).map((l) => l.toLowerCase()));
      const missing = Object.values(TYPE_TO_FD).filter((t) => !labels.has(t.toLowerCase()));
      if (missing.length > 0) {
        const choices = [...existing.map((c, i) => ({ ...c, position: c.position ?? i + 1 })), ...missing.map((value, i) => ({ value, position: existing.length + i + 1 }))];
        await this.client.put(`/api/v2/admin/ticket_fields/${typeField.id}`, { choices });
      }
    }
    this.account.forgetFields();
    // The source's fields are created later, by the ticketField stream's own loads.
    return { createdFields: [] };
  }

  private adminFields(): Promise<FdTicketField[]> {
    return this.client.get<FdTicketField[]>('/api/v2/admin/ticket_fields');
  }

  /** Every custom field `prepare()` was told about exists on the target (once per process). */
  private ensureTicketFields(): Promise<void> {
    if (!this.fieldsReady) {
      this.fieldsReady = (async () => {
        const fields = await this.adminFields();
        for (const def of this.sourceFields) {
          const existing = fields.find((f) => f.name === fdFieldName(def.key, def.type));
          if (!existing) await this.createField(def);
          else {
            await this.syncChoices(existing, def);
            if (def.type === 'multiselect' && !fields.some((f) => f.name === multiValuesFieldName(def.key))) await this.createValuesField(def);
          }
        }
        this.account.forgetFields();
      })();
      this.fieldsReady.catch(() => (this.fieldsReady = null));
    }
    return this.fieldsReady;
  }

  private async createField(def: TicketField): Promise<FdTicketField> {
    const body: Record<string, unknown> = {
      // Freshdesk names a field after the label it is created with; the title is set right after.
      label: creationLabel(def.key, def.type),
      label_for_customers: def.title,
      type: fieldTypeToFd(def.type),
      customers_can_edit: true,
      displayed_to_customers: true,
      // Required flags would make Freshdesk refuse historical tickets that lack a value.
      required_for_agents: false,
      required_for_customers: false,
      required_for_closure: false,
    };
    if (def.type === 'dropdown' || def.type === 'multiselect') body.choices = def.options.map((o, i) => ({ value: o.label, position: i + 1 }));
    if (def.type === 'multiselect') {
      body.customers_can_edit = false;
      body.displayed_to_customers = false;
      const fields = await this.adminFields();
      if (!fields.some((f) => f.name === multiValuesFieldName(def.key))) await this.createValuesField(def);
    }
    const created = await this.createNamed(body, fdFieldName(def.key, def.type), def.sourceId);
    if (created.adopted) {
      await this.syncChoices(created.field, def);
      return created.field;
    }
    const updated = await this.client.put<FdTicketField>(`/api/v2/admin/ticket_fields/${created.field.id}`, { label: def.title, label_for_customers: def.title });
    this.account.forgetFields();
    return updated;
  }

  /**
   * Creates a field that must get the API name `name`. Freshdesk gives a new field a suffixed name when
   * the name is taken: when another loader created the same field a moment before (both found it
   * missing), the suffixed copy is deleted and theirs adopted, so the target keeps one field. A name
   * taken by a field this run did not make is a conflict, and the suffixed copy is not left behind.
   */
  private async createNamed(body: Record<string, unknown>, name: string, recordId: string): Promise<{ field: FdTicketField; adopted: boolean }> {
    const created = await this.client.post<FdTicketField>('/api/v2/admin/ticket_fields', body);
    if (created.name === name) return { field: created, adopted: false };
    await this.client.delete(`/api/v2/admin/ticket_fields/${created.id}`);
    this.account.forgetFields();
    const theirs = (await this.adminFields()).find((f) => f.name === name);
    if (theirs) return { field: theirs, adopted: true };
    throw new HdmError('CONFLICT', `ticketField ${recordId}: Freshdesk named the new field ${created.name}, not ${name}; a field with a similar name exists`, {
      retryable: false,
      context: { platform: 'freshdesk', entity: 'ticketField', recordId, field: 'key' },
    });
  }

  /** The hidden paragraph field that holds a multi-select's chosen labels on each ticket. */
  private async createValuesField(def: TicketField): Promise<void> {
    const created = await this.createNamed({
      label: `${def.key}${MULTIVALUES_MARKER}`,
      label_for_customers: def.title,
      type: 'custom_paragraph',
      customers_can_edit: true,
      displayed_to_customers: true,
      required_for_agents: false,
      required_for_customers: false,
      required_for_closure: false,
    }, multiValuesFieldName(def.key), def.sourceId);
    if (created.adopted) return;
    await this.client.put(`/api/v2/admin/ticket_fields/${created.field.id}`, { label: def.title, label_for_customers: def.title });
    this.account.forgetFields();
  }

  private async syncChoices(field: FdTicketField, def: TicketField): Promise<void> {
    const wantTitle = field.label !== def.title;
    let choices: FdAdminChoice[] | undefined;
    if (def.type === 'dropdown' || def.type === 'multiselect') {
      const existing = (Array.isArray(field.choices) ? field.choices : []) as FdAdminChoice[];
      const have = new Set(choiceLabels(existing));
      const missing = def.options.filter((o) => !have.has(o.label));
      if (missing.length > 0) choices = [...existing, ...missing.map((o, i) => ({ value: o.label, position: existing.length + i + 1 }))];
    }
    if (wantTitle || choices) {
      await this.client.put(`/api/v2/admin/ticket_fields/${field.id}`, { label: def.title, label_for_customers: def.title, ...(choices ? { choices } : {}) });
      this.account.forgetFields();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Find

  async find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null> {
    const ref = (id: number | undefined | null) => (id === undefined || id === null ? null : { targetId: String(id) });
    switch (entity) {
      case 'ticket':
        return ref(await this.findTicket(stamp));
      case 'contact':
        return ref(await this.findContact(record as Contact, stamp));
      case 'agent':
        return ref(await this.findAgent((record as Agent).email));
      case 'organization':
        return ref(await this.findCompany((record as Organization).name));
      case 'group': {
        const groups = await this.client.all<FdGroup>('/api/v2/groups');
        return ref(groups.find((g) => g.name === (record as Group).name)?.id);
      }
      case 'ticketField': {
        const def = record as TicketField;
        const fields = await this.adminFields();
        return ref(fields.find((f) => f.name === fdFieldName(def.key, def.type))?.id);
      }
      case 'kbCategory': {
        const categories = await this.client.get<FdCategory[]>('/api/v2/solutions/categories');
        return ref(categories.find((c) => c.name === (record as KbCategory).name)?.id);
      }
      case 'kbSection': {
        const section = record as KbSection;
        const folders = await this.client.find<FdFolder[]>(`/api/v2/solutions/categories/${section.categoryId}/folders`);
        return ref(folders?.find((f) => f.name === section.name)?.id);
      }
      case 'kbArticle': {
        const article = record as KbArticle;
        const articles = await this.client.find<FdArticle[]>(`/api/v2/solutions/folders/${article.sectionId}/articles`);
        return ref(articles?.find((a) => a.title === article.title)?.id);
      }
      default:
        return null;
    }
  }

  /** Tickets carrying a stamp of `prefix`, from the ticket list (the filter API cannot match a prefix). */
  async *stampedTickets(prefix: string, signal?: AbortSignal): AsyncGenerator<StampedRecord[]> {
    const seen = new Set<number>();
    for await (const { items } of ticketListPages(this.client, EPOCH, signal)) {
      const out: StampedRecord[] = [];
      for (const t of items) {
        const stamp = ticketStamp(t);
        if (seen.has(t.id) || !stamp?.startsWith(prefix)) continue;
        seen.add(t.id);
        out.push({ stamp, targetId: String(t.id) });
      }
      yield out;
    }
  }

  /**
   * By the stamp field through the filter API, whose index lags writes by minutes; then through the
   * most recently updated tickets, which a crashed create is among.
   */
  private async findTicket(stamp: string): Promise<number | null> {
    const search = await this.client.send<{ results?: FdTicket[] }>({
      path: '/api/v2/search/tickets',
      query: { query: `"${STAMP_FIELD}:'${stamp.replace(/'/g, "\\'")}'"` },
      okStatuses: [400],
    });
    const hit = search.status === 200 ? search.body.results?.find((t) => ticketStamp(t) === stamp) : undefined;
    if (hit) return hit.id;
    const since = new Date(Date.now() - 30 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    let pages = 0;
    for await (const page of this.client.pages<FdTicket>('/api/v2/tickets', { updated_since: since, order_by: 'updated_at', order_type: 'desc' })) {
      const found = page.items.find((t) => ticketStamp(t) === stamp);
      if (found) return found.id;
      if (++pages >= 3) break;
    }
    return null;
  }

  private async findContact(contact: Contact, stamp: string): Promise<number | null> {
    if (stamp) {
      const search = await this.client.send<{ results?: FdContact[] }>({
        path: '/api/v2/search/contacts',
        query: { query: `"unique_external_id:'${stamp.replace(/'/g, "\\'")}'"` },
        okStatuses: [400],
      });
      const hit = search.status === 200 ? search.body.results?.find((c) => c.unique_external_id === stamp) : undefined;
      if (hit) return hit.id;
    }
    if (contact.email) {
      const found = await this.client.get<FdContact[]>('/api/v2/contacts', { email: contact.email });
      if (found.length > 0) return found[0].id;
    }
    if (contact.phone) {
      for (const key of ['phone', 'mobile']) {
        const found = await this.client.get<FdContact[]>('/api/v2/contacts', { [key]: contact.phone });
        if (found.length > 0) return found[0].id;
      }
    }
    return null;
  }

  private async findAgent(email: string): Promise<number | null> {
    const found = await this.client.get<FdAgent[]>('/api/v2/agents', { email });
    return found.find((a) => a.contact.email.toLowerCase() === email.toLowerCase())?.id ?? null;
  }

  /** Company names are unique on Freshdesk. */
  private async findCompany(name: string): Promise<number | null> {
    const res = await this.client.get<{ companies?: { id: number; name: string }[] }>('/api/v2/companies/autocomplete', { name });
    return res.companies?.find((c) => c.name.toLowerCase() === name.toLowerCase())?.id ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // Create / update

  async create<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    return this.write(entity, null, record, context);
  }

  async update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    return this.write(entity, targetId, record, context);
  }

  private async write<E extends EntityName>(entity: E, targetId: string | null, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    switch (entity) {
      case 'ticket':
        return this.writeTicket(targetId, record as Ticket, context);
      case 'contact':
        return this.writeContact(targetId, record as Contact, context.stamp);
      case 'agent':
        return this.writeAgent(targetId, record as Agent);
      case 'organization':
        return this.upsertUnique(targetId, '/api/v2/companies', companyToFd(record as Organization), () => this.findCompany((record as Organization).name));
      case 'group':
        return this.upsertUnique(targetId, '/api/v2/groups', groupToFd(record as Group), async () => {
          const groups = await this.client.all<FdGroup>('/api/v2/groups');
          return groups.find((g) => g.name === (record as Group).name)?.id ?? null;
        });
      case 'ticketField':
        return this.writeTicketField(targetId, record as TicketField);
      case 'kbCategory': {
        const c = record as KbCategory;
        const body = { name: c.name, description: c.description };
        if (targetId) return { targetId: String((await this.client.put<FdCategory>(`/api/v2/solutions/categories/${targetId}`, body)).id) };
        return { targetId: String((await this.client.post<FdCategory>('/api/v2/solutions/categories', body)).id) };
      }
      case 'kbSection': {
        const s = record as KbSection;
        if (targetId) return { targetId: String((await this.client.put<FdFolder>(`/api/v2/solutions/folders/${targetId}`, { name: s.name, description: s.description })).id) };
        const created = await this.client.post<FdFolder>(`/api/v2/solutions/categories/${s.categoryId}/folders`, { name: s.name, description: s.description, visibility: 1 });
        return { targetId: String(created.id) };
      }
      case 'kbArticle':
        return this.writeArticle(targetId, record as KbArticle);
      default:
        throw new HdmError('INTERNAL', `freshdesk cannot write ${entity}`);
    }
  }

  /** Create, or on a uniqueness conflict (409) update the record that holds the name. */
  private async upsertUnique(targetId: string | null, path: string, body: Record<string, unknown>, lookup: () => Promise<number | null>): Promise<TargetRef> {
    if (targetId) return { targetId: String((await this.client.put<{ id: number }>(`${path}/${targetId}`, body)).id) };
    const res = await this.client.send<{ id: number }>({ method: 'POST', path, json: body, okStatuses: [409] });
    if (res.status !== 409) return { targetId: String(res.body.id) };
    const existing = await lookup();
    if (existing === null) throw conflict(path, res);
    return { targetId: String((await this.client.put<{ id: number }>(`${path}/${existing}`, body)).id) };
  }

  private async writeContact(targetId: string | null, contact: Contact, stamp: string): Promise<TargetRef> {
    // Freshdesk identifies a contact by any of email, phone, mobile, twitter_id or unique_external_id:
    // the stamp, sent as unique_external_id, is enough for a requester who has neither email nor phone.
    if (!contact.email && !contact.phone && !stamp) {
      throw invalid('contact', contact.sourceId, 'email', `"${contact.name}" has neither an email, a phone number nor a source stamp; Freshdesk needs one of them to create a contact`);
    }
    const body = contactToFd(contact, stamp || null);
    if (targetId) return { targetId: String((await this.client.put<FdContact>(`/api/v2/contacts/${targetId}`, body)).id) };
    const res = await this.client.send<FdContact>({ method: 'POST', path: '/api/v2/contacts', json: body, okStatuses: [409] });
    if (res.status !== 409) return { targetId: String(res.body.id) };
    const existing = await this.findContact(contact, stamp);
    if (existing === null) throw conflict('/api/v2/contacts', res);
    return { targetId: String((await this.client.put<FdContact>(`/api/v2/contacts/${existing}`, body)).id) };
  }

  private async writeAgent(targetId: string | null, agent: Agent): Promise<TargetRef> {
    const roles = await this.account.rolesList();
    const body = agentToFd(agent, roles);
    if (targetId) {
      // Freshdesk's API cannot change an agent's name, nor the calling agent's own roles.
      await this.client.put<FdAgent>(`/api/v2/agents/${targetId}`, { group_ids: body.group_ids });
      return { targetId };
    }
    const res = await this.client.send<FdAgent>({ method: 'POST', path: '/api/v2/agents', json: body, okStatuses: [409] });
    let id: number;
    if (res.status !== 409) id = res.body.id;
    else {
      const existing = await this.findAgent(agent.email);
      if (existing !== null) id = existing;
      else {
        // The email belongs to a contact: Freshdesk turns contacts into agents with make_agent.
        const contacts = await this.client.get<FdContact[]>('/api/v2/contacts', { email: agent.email });
        if (contacts.length === 0) throw conflict('/api/v2/agents', res);
        id = await this.makeAgent(contacts[0].id, body);
      }
    }
    // Only a list already fetched learns of it: fetching it here, while other loaders are still creating
    // agents, would leave their agents out of it.
    if (this.agentList) (await this.agentList.ids.catch(() => new Set<number>())).add(id);
    return { targetId: String(id) };
  }

  /**
   * API v2 reference, Contacts › "Make Agent": it takes its own parameters (`type` by name, not
   * `agent_type`; no name or email) and answers the contact, whose `agent` carries the agent's ID.
   */
  private async makeAgent(contactId: number, body: Record<string, unknown>): Promise<number> {
    const made = await this.client.put<FdContact & { agent?: { id: number } }>(`/api/v2/contacts/${contactId}/make_agent`, {
      ticket_scope: body.ticket_scope,
      occasional: body.occasional,
      type: body.agent_type === 3 ? 'collaborator' : body.agent_type === 2 ? 'field_agent' : 'support_agent',
      role_ids: body.role_ids,
      group_ids: body.group_ids,
    });
    return made.agent?.id ?? made.id;
  }

  private async writeTicketField(targetId: string | null, def: TicketField): Promise<TargetRef> {
    if (targetId) {
      const field = await this.client.get<FdTicketField>(`/api/v2/admin/ticket_fields/${targetId}`);
      await this.syncChoices(field, def);
      return { targetId };
    }
    return { targetId: String((await this.createField(def)).id) };
  }

  private agents(): Promise<Set<number>> {
    if (!this.agentList) {
      const list = { ids: this.client.all<FdAgent>('/api/v2/agents').then((agents) => new Set(agents.map((a) => a.id))), fetchedAt: Date.now() };
      list.ids.catch(() => {
        if (this.agentList === list) this.agentList = null;
      });
      this.agentList = list;
    }
    return this.agentList.ids;
  }

  /**
   * Whether a user is an agent on the target. A user missing from a list older than a few seconds
   * fetches it again: another process (a second loader, a later delta) may have created the agent.
   */
  private async isAgent(userId: number): Promise<boolean> {
    if ((await this.agents()).has(userId)) return true;
    if (this.agentList && Date.now() - this.agentList.fetchedAt < AGENT_LIST_MAX_AGE_MS) return false;
    this.agentList = null;
    return (await this.agents()).has(userId);
  }

  private async writeTicket(targetId: string | null, ticket: Ticket, context: WriteContext): Promise<TargetRef> {
    if (ticket.requesterId === null) throw invalid('ticket', ticket.sourceId, 'requesterId', 'has no requester; Freshdesk needs one on every ticket');
    await this.ensureTicketFields();
    let index = await this.account.fieldIndex();
    let mapped = ticketToFd(ticket, index, context.stamp || null);
    if (mapped.unknownFields.length > 0) {
      index = await this.account.fieldIndex(true);
      mapped = ticketToFd(ticket, index, context.stamp || null);
      if (mapped.unknownFields.length > 0) {
        throw invalid('ticket', ticket.sourceId, `customFields.${mapped.unknownFields[0]}`, `custom field "${mapped.unknownFields[0]}" does not exist on the Freshdesk target (migrate ticket fields first)`);
      }
    }
    const [description, ...rest] = ticket.comments;
    // On update the ticket's budget is what its attachments on the target leave, learnt only if a new note needs it.
    let budget: AttachmentBudget | null = targetId ? null : { left: FD_ATTACHMENTS_MAX_BYTES };
    let id: number;
    if (targetId) {
      // The description keeps linking or naming what the create left out (judged by declared size, as the create first did).
      const leftOut = description ? fitByDeclaredSize(description.attachments, FD_ATTACHMENTS_MAX_BYTES).leftOut : [];
      const overflow = await keepLinked(leftOut, context, true);
      const body = leftOut.length > 0 ? { ...mapped.body, description: withTicketOverflow(String(mapped.body.description ?? ''), overflow) } : mapped.body;
      const res = await this.client.send<FdTicket>({ method: 'PUT', path: `/api/v2/tickets/${targetId}`, json: body, okStatuses: [405] });
      // A ticket deleted on the target (in its trash) refuses updates with 405: for the loader it is gone.
      if (res.status === 405) {
        throw new HdmError('NOT_FOUND', `freshdesk ticket ${targetId} is deleted on the target`, { context: { platform: 'freshdesk', entity: 'ticket', recordId: ticket.sourceId, httpStatus: 405 } });
      }
      id = res.body.id;
    } else if (description && description.attachments.length > 0) {
      const files = await carryAttachments(description.attachments, context, budget!);
      const overflow = await keepLinked(files.leftOut, context, false, files.fetched);
      const form = ticketForm({ ...mapped.body, description: withTicketOverflow(String(mapped.body.description ?? ''), overflow) });
      appendFiles(form, files.carried);
      id = (await this.client.postForm<FdTicket>('/api/v2/tickets', form)).id;
    } else {
      id = (await this.client.post<FdTicket>('/api/v2/tickets', mapped.body)).id;
    }
    const children: Record<string, string> = {};
    if (description) children[description.sourceId] = descriptionCommentId(id);
    for (const comment of rest) {
      const known = context.knownChildren[comment.sourceId];
      if (known) {
        children[comment.sourceId] = known;
        continue;
      }
      if (comment.attachments.length > 0) budget ??= { left: FD_ATTACHMENTS_MAX_BYTES - (await this.attachmentBytes(id)) };
      const conversation = await this.addNote(id, comment, context, budget);
      children[comment.sourceId] = String(conversation.id);
    }
    return { targetId: String(id), children };
  }

  /** Bytes of attachments a ticket holds on the target: its description's and every conversation's. */
  private async attachmentBytes(ticketId: number): Promise<number> {
    const ticket = await this.client.get<FdTicket>(`/api/v2/tickets/${ticketId}`);
    const conversations = await this.client.all<FdConversation>(`/api/v2/tickets/${ticketId}/conversations`);
    return [...(ticket.attachments ?? []), ...conversations.flatMap((c) => c.attachments ?? [])].reduce((sum, a) => sum + (a.size ?? 0), 0);
  }

  /**
   * Every comment after the description goes in as a note (`private` from its visibility, `user_id` its
   * author, `incoming` when the author is not an agent). Replies would email the requester once per
   * historical message, which a migration must not do.
   */
  private async addNote(ticketId: number, comment: Comment, context: WriteContext, budget: AttachmentBudget | null): Promise<FdConversation> {
    const userId = num(comment.authorId);
    const files = comment.attachments.length > 0 && budget ? await carryAttachments(comment.attachments, context, budget) : null;
    const overflow = await keepLinked(files?.leftOut ?? [], context, false, files?.fetched);
    const fields: Record<string, unknown> = {
      body: withTicketOverflow(comment.body.length > 0 ? comment.body : '<p></p>', overflow),
      private: !comment.public,
      incoming: userId !== null && !(await this.isAgent(userId)),
    };
    if (userId !== null) fields.user_id = userId;
    if (!files || files.carried.length === 0) return this.client.post<FdConversation>(`/api/v2/tickets/${ticketId}/notes`, fields);
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
    appendFiles(form, files.carried);
    return this.client.postForm<FdConversation>(`/api/v2/tickets/${ticketId}/notes`, form);
  }

  private async writeArticle(targetId: string | null, article: KbArticle): Promise<TargetRef> {
    const body = articleToFd(article);
    let fd: FdArticle;
    if (targetId) fd = await this.client.put<FdArticle>(`/api/v2/solutions/articles/${targetId}`, body);
    else fd = await this.client.post<FdArticle>(`/api/v2/solutions/folders/${article.sectionId}/articles`, body);
    const authorId = num(article.authorId);
    if (authorId !== null && fd.agent_id !== authorId) {
      // The creating agent is the API key's; the author can only be set by an update.
      fd = await this.client.put<FdArticle>(`/api/v2/solutions/articles/${fd.id}`, { agent_id: authorId });
    }
    const settings = await this.account.helpdeskSettings();
    for (const t of article.translations) {
      const language = localeToFd(t.locale, settings.supported_languages);
      if (language === settings.primary_language) continue;
      const translated = articleToFd({ title: t.title, body: t.body, draft: t.draft, tags: [] });
      delete translated.tags;
      const path = `/api/v2/solutions/articles/${fd.id}/${language}`;
      const res = targetId ? await this.client.send({ method: 'PUT', path, json: translated, okStatuses: [404] }) : null;
      if (!res || res.status === 404) await this.client.post(path, translated);
    }
    return { targetId: String(fd.id) };
  }

  async delete(entity: EntityName, targetId: string): Promise<void> {
    // A ticket already in the trash answers 405 to a delete: it is deleted already.
    await this.client.send({ method: 'DELETE', path: DELETE_PATHS[entity](targetId), okStatuses: entity === 'ticket' ? [404, 405] : [404] });
    // Freshdesk turns a deleted agent into a contact with the same ID; removing it means deleting that too.
    if (entity === 'agent') await this.client.send({ method: 'DELETE', path: DELETE_PATHS.contact(targetId), okStatuses: [404] });
  }
}

function conflict(path: string, res: HttpResponse<unknown>): HdmError {
  return new HdmError('CONFLICT', `freshdesk POST ${path} conflicted with an existing record that could not be found again: ${JSON.stringify(res.body).slice(0, 300)}`, {
    retryable: false,
    context: { platform: 'freshdesk', path, httpStatus: res.status },
  });
}

/** A ticket body as multipart fields, the way Freshdesk takes it alongside `attachments[]`. */
function ticketForm(body: Record<string, unknown>): FormData {
  const form = new FormData();
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    if (key === 'tags') for (const tag of value as string[]) form.append('tags[]', tag);
    else if (key === 'custom_fields') {
      for (const [name, v] of Object.entries(value as Record<string, unknown>)) if (v !== null && v !== undefined) form.append(`custom_fields[${name}]`, String(v));
    } else form.append(key, String(value));
  }
  return form;
}

/** What is left of a ticket's 20 MB of attachments (FD_ATTACHMENTS_MAX_BYTES). */
interface AttachmentBudget {
  left: number;
}

interface CarriedFile {
  body: Uint8Array;
  contentType: string;
  fileName: string;
}

/**
 * Downloads the attachments that fit in what is left of the ticket's 20 MB, in order; the others are
 * left out (not downloaded when their declared size already does not fit).
 */
async function carryAttachments(
  attachments: AttachmentMeta[],
  context: WriteContext,
  budget: AttachmentBudget,
): Promise<{ carried: CarriedFile[]; leftOut: AttachmentMeta[]; fetched: Map<AttachmentMeta, Uint8Array> }> {
  const carried: CarriedFile[] = [];
  const leftOut: AttachmentMeta[] = [];
  // Left out only once downloaded (larger than declared): kept for the attachment location, not fetched twice.
  const fetched = new Map<AttachmentMeta, Uint8Array>();
  for (const attachment of attachments) {
    if (attachment.size > budget.left) {
      leftOut.push(attachment);
      continue;
    }
    const file = await downloadAttachment(attachment, context);
    if (file.body.length > budget.left) {
      leftOut.push(attachment);
      fetched.set(attachment, file.body);
      continue;
    }
    budget.left -= file.body.length;
    carried.push({ body: file.body, contentType: file.contentType || attachment.contentType, fileName: attachment.fileName });
  }
  return { carried, leftOut, fetched };
}

function appendFiles(form: FormData, files: CarriedFile[]): void {
  for (const file of files) form.append('attachments[]', new Blob([file.body], { type: file.contentType }), file.fileName);
}

function fitByDeclaredSize(attachments: AttachmentMeta[], bytes: number): { leftOut: AttachmentMeta[] } {
  const leftOut: AttachmentMeta[] = [];
  let left = bytes;
  for (const a of attachments) {
    if (a.size > left) leftOut.push(a);
    else left -= a.size;
  }
  return { leftOut };
}

/** The body with what Freshdesk's per-ticket limit kept out, linked or named at its end. */
function withTicketOverflow(body: string, overflow: Overflow): string {
  return withOverflow(body, overflow, 'Freshdesk', `at most ${megabytes(FD_ATTACHMENTS_MAX_BYTES)} of attachments per ticket`);
}
