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
import { ENTITIES, TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES } from '../../schemas/canonical.ts';
import type { Limitation, PrepareResult, StampedRecord, TargetCapabilities, TargetRef, Upserted, WriteContext } from '../sdk/contract.ts';
import { HdmError, toHdmError } from '../../schemas/errors.ts';
import { ImportBatcher } from './zendesk.imports.ts';
import type { ZendeskClient } from './zendesk.client.ts';
import {
  agentDescriptionFor,
  FieldCatalog,
  isCustomField,
  toCanonicalTicket,
  toZendeskAgent,
  toZendeskCommentInput,
  toZendeskContact,
  toZendeskGroup,
  toZendeskOrganization,
  toZendeskTicketField,
  toZendeskTicketProps,
  zdTime,
  ZD_UPLOAD_MAX_BYTES,
  type ZdCommentInput,
} from './zendesk.mapping.ts';
import { keepLinked, megabytes, withOverflow } from '../sdk/attachment-overflow.ts';
import type { ZendeskReader } from './zendesk.reader.ts';
import type {
  ZdArticle,
  ZdCategory,
  ZdComment,
  ZdGroup,
  ZdGroupMembership,
  ZdOrganization,
  ZdSection,
  ZdTicket,
  ZdTicketField,
  ZdTranslation,
  ZdUpload,
  ZdUser,
} from './zendesk.types.ts';

const SET_BY_ZENDESK = 'Zendesk sets it itself when the record is written; its API cannot take the original value.';

/** What Zendesk cannot preserve (verification ignores these paths; reports name them). */
export const ZENDESK_LIMITATIONS: readonly Limitation[] = [
  {
    entity: 'ticket',
    field: 'comments.createdAt',
    description:
      'Kept for every comment of a ticket created through the ticket import API. A comment appended to an existing ticket by a later update gets the time of that update: the Tickets API cannot set a new comment’s created_at.',
  },
  { entity: 'ticket', field: 'updatedAt', description: 'Set by the import API, then moved by Zendesk on every later change to the ticket.' },
  { entity: 'agent', field: 'role', description: 'Light agents need a custom role (Enterprise); they are created as full agents.' },
  {
    entity: 'contact',
    field: 'customFields',
    description: 'Zendesk keeps user_fields only for user fields already defined on the account; the migration does not create user field definitions.',
  },
  {
    entity: 'organization',
    field: 'customFields',
    description: 'Zendesk keeps organization_fields only for organization fields already defined on the account; the migration does not create them.',
  },
  ...(['group', 'agent', 'contact', 'organization', 'ticketField', 'kbCategory', 'kbSection', 'kbArticle'] as const).flatMap((entity) => [
    { entity, field: 'createdAt', description: SET_BY_ZENDESK },
    { entity, field: 'updatedAt', description: SET_BY_ZENDESK },
  ]),
  { entity: 'kbArticle', field: 'translations.updatedAt', description: SET_BY_ZENDESK },
];

export const ZENDESK_CAPABILITIES: TargetCapabilities = {
  // Tickets are imported by background jobs (create_many): a job accepted just before its answer was
  // lost may run a while later.
  writeVisibleWithinMs: 30_000,
  ticketStatuses: TICKET_STATUSES,
  ticketPriorities: TICKET_PRIORITIES,
  ticketTypes: TICKET_TYPES,
  entities: ENTITIES,
  attachmentBytesPerFile: ZD_UPLOAD_MAX_BYTES,
  // New tickets share create_many jobs (up to 100 each) among the loads in flight at the same moment: the
  // budget bench's 2,000 tickets took 460 jobs with 16 loads at once, 278 with 64 (entity order).
  loadConcurrency: { ticket: 64 },
};

const sameText = (a: string | null | undefined, b: string | null | undefined) => (a ?? '').trim().toLowerCase() === (b ?? '').trim().toLowerCase();

const ADOPT_ON_DUPLICATE: ReadonlySet<EntityName> = new Set(['group', 'organization', 'agent', 'contact']);

/** A 422 whose details name a value another record holds (Zendesk's `DuplicateValue`). */
function isDuplicateValue(err: unknown): boolean {
  if (!(err instanceof HdmError) || err.context.httpStatus !== 422) return false;
  const details = (err.context.body as { details?: Record<string, { error?: string }[]> } | undefined)?.details ?? {};
  return Object.values(details).some((list) => list.some((d) => d.error === 'DuplicateValue'));
}

/** Writes planned canonical records into Zendesk. */
export class ZendeskWriter {
  readonly limitations = ZENDESK_LIMITATIONS;
  readonly capabilities = ZENDESK_CAPABILITIES;
  private catalog: Promise<FieldCatalog> | null = null;
  /** Canonical key → target field title, from prepare(): keys that are not the slug of their title still resolve. */
  private readonly titleByKey = new Map<string, string>();
  /**
   * Fields prepare() created in this process, by canonical key. They belong to this run: find() does not
   * report them as pre-existing, and create() adopts them, so the loader records them as created (and
   * `hdm undo` removes them).
   */
  private readonly prepared = new Map<string, number>();
  private permissionGroup: Promise<number> | null = null;
  private readonly imports: ImportBatcher;

  constructor(
    private readonly client: ZendeskClient,
    private readonly reader: ZendeskReader,
  ) {
    this.imports = new ImportBatcher(client);
  }

  private fields(refresh = false): Promise<FieldCatalog> {
    if (refresh || !this.catalog) {
      this.catalog = this.reader.fieldCatalog();
      this.catalog.catch(() => (this.catalog = null));
    }
    return this.catalog;
  }

  /** Wraps a failure with the record it was about; Zendesk's 422 details name the field. */
  private fail(err: unknown, entity: EntityName, sourceId: string, action: string): HdmError {
    const e = toHdmError(err, 'INTERNAL', { entity, recordId: sourceId });
    const details = (e.context.body as { details?: Record<string, { description?: string }[]> } | undefined)?.details;
    const field = details ? Object.keys(details)[0] : undefined;
    if (e.code !== 'REJECTED') return e;
    const reason = details
      ? Object.values(details)
          .flat()
          .map((d) => d.description)
          .filter(Boolean)
          .join('; ')
      : e.message;
    return new HdmError('REJECTED', `zendesk rejected ${action} ${entity} ${sourceId}${field ? ` (field ${field})` : ''}: ${reason}`, {
      retryable: false,
      context: { ...e.context, ...(field ? { field } : {}) },
      cause: e,
    });
  }

  // -------------------------------------------------------------------------------------------
  // find

  async find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null> {
    const c = this.client;
    const ref = (id: number | undefined | null): TargetRef | null => (id === undefined || id === null ? null : { targetId: String(id) });
    switch (entity) {
      case 'ticket': {
        if (!stamp) return null;
        const found = await c.all<ZdTicket>('/api/v2/tickets.json', 'tickets', { external_id: stamp });
        const live = found.filter((t) => t.status !== 'deleted').sort((a, b) => a.id - b.id);
        return ref(live[0]?.id);
      }
      case 'agent':
      case 'contact': {
        if (stamp) {
          const byStamp = await c.all<ZdUser>('/api/v2/users/search.json', 'users', { external_id: stamp });
          if (byStamp.length > 0) return ref(byStamp[0].id);
        }
        const email = (record as Agent | Contact).email;
        if (!email) return null;
        const byEmail = await c.all<ZdUser>('/api/v2/users/search.json', 'users', { query: `email:"${email}"` });
        return ref(byEmail.find((u) => sameText(u.email, email))?.id);
      }
      case 'organization': {
        if (stamp) {
          const byStamp = await c.all<ZdOrganization>('/api/v2/organizations/search.json', 'organizations', { external_id: stamp });
          if (byStamp.length > 0) return ref(byStamp.sort((a, b) => a.id - b.id)[0].id);
        }
        const byName = await c.all<ZdOrganization>('/api/v2/organizations/search.json', 'organizations', { name: (record as Organization).name });
        return ref(byName.find((o) => sameText(o.name, (record as Organization).name))?.id);
      }
      case 'group': {
        const groups = await c.all<ZdGroup>('/api/v2/groups.json', 'groups', { 'page[size]': 100 });
        return ref(groups.find((g) => !g.deleted && sameText(g.name, (record as Group).name))?.id);
      }
      case 'ticketField': {
        const field = record as TicketField;
        if (this.prepared.has(field.key)) return null;
        const catalog = await this.fields(true);
        const match = catalog.byKey.get(field.key) ?? [...catalog.byId.values()].find((f) => sameText(f.title, field.title));
        return ref(match?.id);
      }
      case 'kbCategory': {
        const all = await c.all<ZdCategory>('/api/v2/help_center/categories.json', 'categories', { per_page: 100 });
        return ref(all.find((x) => sameText(x.name, (record as KbCategory).name))?.id);
      }
      case 'kbSection': {
        const section = record as KbSection;
        const all = await this.listOr404<ZdSection>(`/api/v2/help_center/categories/${section.categoryId}/sections.json`, 'sections');
        return ref(all.find((x) => sameText(x.name, section.name))?.id);
      }
      case 'kbArticle': {
        const article = record as KbArticle;
        const all = await this.listOr404<ZdArticle>(`/api/v2/help_center/sections/${article.sectionId}/articles.json`, 'articles');
        return ref(all.find((x) => sameText(x.title, article.title))?.id);
      }
    }
    return null;
  }

  /**
   * Stamped tickets from the export (archived ones included), then the tickets made since: the export
   * leaves out its last minute, and those are the tickets with higher IDs than it showed.
   */
  async *stampedTickets(prefix: string, signal?: AbortSignal): AsyncGenerator<StampedRecord[]> {
    const stamped = (tickets: ZdTicket[]) =>
      tickets.flatMap((t) => (t.status !== 'deleted' && t.external_id?.startsWith(prefix) ? [{ stamp: t.external_id, targetId: String(t.id) }] : []));
    let highest = 0;
    for await (const tickets of this.reader.exportedTickets(signal)) {
      for (const t of tickets) highest = Math.max(highest, t.id);
      yield stamped(tickets);
    }
    for await (const tickets of this.client.pages<ZdTicket>('/api/v2/tickets.json', 'tickets', { sort_by: 'id', sort_order: 'desc', per_page: 100 })) {
      signal?.throwIfAborted();
      const newer = tickets.filter((t) => t.id > highest);
      yield stamped(newer);
      if (newer.length < tickets.length) return;
    }
  }

  private async listOr404<T>(path: string, key: string): Promise<T[]> {
    try {
      return await this.client.all<T>(path, key, { per_page: 100 });
    } catch (err) {
      if (err instanceof HdmError && err.code === 'NOT_FOUND') return [];
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // create / update

  async create<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    try {
      return await this.write(entity, null, record, context);
    } catch (err) {
      // Zendesk keeps group and organization names, user emails and external IDs unique (422
      // DuplicateValue). Taken since find() looked: another loader created the same thing a moment ago
      // (two source records with one name, or an agent and a contact with one email, loaded at once).
      // This one adopts it, as find() would have a moment later.
      const theirs = ADOPT_ON_DUPLICATE.has(entity) && isDuplicateValue(err) ? await this.find(entity, record, context.stamp) : null;
      if (theirs) return this.update(entity, theirs.targetId, record, context);
      throw this.fail(err, entity, record.sourceId, 'creating');
    }
  }

  /**
   * Contacts and organizations through Zendesk's `create_or_update`: the user its external ID (the stamp)
   * or email names, the organization its external ID names, is updated (200) or a new one created (201).
   * One request where find() (two searches) and a create cost three. Other entities: null (find, then
   * create or update).
   */
  async upsert<E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<Upserted | null> {
    const stamp = context.stamp || null;
    const send = async <T extends { id: number }>(collection: string, key: string, body: Record<string, unknown>): Promise<Upserted> => {
      const res = await this.client.send<Record<string, T>>({ method: 'POST', path: `/api/v2/${collection}/create_or_update.json`, json: { [key]: body } });
      return { ref: { targetId: String(res.body[key].id) }, created: res.status === 201 };
    };
    try {
      if (entity === 'contact') return await send<ZdUser>('users', 'user', toZendeskContact(record as Contact, stamp));
      // An organization is matched by external ID only: one made by hand under the same name is refused as a
      // duplicate name, then found by name and updated, as create() adopts it.
      if (entity === 'organization') return await send<ZdOrganization>('organizations', 'organization', toZendeskOrganization(record as Organization, stamp));
      return null;
    } catch (err) {
      const theirs = entity === 'organization' && isDuplicateValue(err) ? await this.find(entity, record, context.stamp) : null;
      if (theirs) return { ref: await this.update(entity, theirs.targetId, record, context), created: false };
      throw this.fail(err, entity, record.sourceId, 'creating or updating');
    }
  }

  async update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> {
    try {
      return await this.write(entity, targetId, record, context);
    } catch (err) {
      if (err instanceof HdmError && err.code === 'NOT_FOUND') throw err;
      throw this.fail(err, entity, record.sourceId, 'updating');
    }
  }

  private async write(entity: EntityName, targetId: string | null, record: EntityTypes[EntityName], context: WriteContext): Promise<TargetRef> {
    const c = this.client;
    const stamp = context.stamp || null;
    const upsert = async <T extends { id: number }>(key: string, collection: string, body: Record<string, unknown>): Promise<T> => {
      const res = targetId
        ? await c.send<Record<string, T>>({ method: 'PUT', path: `/api/v2/${collection}/${targetId}.json`, json: { [key]: body } })
        : await c.send<Record<string, T>>({ method: 'POST', path: `/api/v2/${collection}.json`, json: { [key]: body } });
      return res.body[key];
    };
    switch (entity) {
      case 'group':
        return { targetId: String((await upsert<ZdGroup>('group', 'groups', toZendeskGroup(record as Group))).id) };
      case 'organization':
        return { targetId: String((await upsert<ZdOrganization>('organization', 'organizations', toZendeskOrganization(record as Organization, stamp))).id) };
      case 'contact':
        return { targetId: String((await upsert<ZdUser>('user', 'users', toZendeskContact(record as Contact, stamp))).id) };
      case 'agent': {
        const agent = record as Agent;
        const user = await upsert<ZdUser>('user', 'users', toZendeskAgent(agent, stamp));
        await this.syncMemberships(user.id, agent.groupIds.map(Number));
        if (agent.deleted) await c.send({ method: 'DELETE', path: `/api/v2/users/${user.id}.json`, okStatuses: [404] });
        return { targetId: String(user.id) };
      }
      case 'ticketField': {
        const field = record as TicketField;
        const adopted = targetId ?? (this.prepared.has(field.key) ? String(this.prepared.get(field.key)) : null);
        if (adopted && !targetId) {
          this.prepared.delete(field.key);
          return this.write(entity, adopted, record, context);
        }
        const body = toZendeskTicketField(field);
        if (targetId) {
          delete body.type; // Zendesk cannot change a field's type
          const current = (await this.fields(true)).byId.get(Number(targetId));
          delete body.agent_description;
          const description = current ? agentDescriptionFor(field.key, { ...current, title: field.title }) : null;
          if (description !== null) body.agent_description = description;
        }
        const written = await upsert<ZdTicketField>('ticket_field', 'ticket_fields', body);
        const saved = targetId ? written : await this.oneField(written, field.key);
        this.titleByKey.set(field.key, saved.title);
        await this.fields(true);
        return { targetId: String(saved.id) };
      }
      case 'ticket':
        return targetId ? this.updateTicket(targetId, record as Ticket, context) : this.importTicket(record as Ticket, context);
      case 'kbCategory':
        return this.writeCategory(targetId, record as KbCategory);
      case 'kbSection':
        return this.writeSection(targetId, record as KbSection);
      case 'kbArticle':
        return this.writeArticle(targetId, record as KbArticle);
    }
  }

  private async syncMemberships(userId: number, groupIds: number[]): Promise<void> {
    const current = await this.client.all<ZdGroupMembership>(`/api/v2/users/${userId}/group_memberships.json`, 'group_memberships', { 'page[size]': 100 });
    const have = new Set(current.map((m) => m.group_id));
    for (const groupId of groupIds) {
      if (have.has(groupId)) continue;
      await this.client.send({
        method: 'POST',
        path: '/api/v2/group_memberships.json',
        json: { group_membership: { user_id: userId, group_id: groupId, default: have.size === 0 } },
      });
      have.add(groupId);
    }
    for (const m of current) {
      if (!groupIds.includes(m.group_id)) await this.client.send({ method: 'DELETE', path: `/api/v2/group_memberships/${m.id}.json`, okStatuses: [404] });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tickets

  private async customFields(ticket: Ticket): Promise<ReturnType<FieldCatalog['toZendesk']>['custom_fields']> {
    const resolveWith = (catalog: FieldCatalog) => (key: string) => {
      const title = this.titleByKey.get(key);
      const byTitle = title ? [...catalog.byId.values()].find((f) => sameText(f.title, title)) : undefined;
      return byTitle ?? catalog.byKey.get(key);
    };
    let catalog = await this.fields();
    let result = catalog.toZendesk(ticket.customFields, resolveWith(catalog));
    if (result.unknown.length > 0) {
      catalog = await this.fields(true);
      result = catalog.toZendesk(ticket.customFields, resolveWith(catalog));
    }
    if (result.unknown.length > 0) {
      throw new HdmError('INVALID_RECORD', `ticket ${ticket.sourceId}: Zendesk has no ticket field for ${result.unknown.map((k) => `"${k}"`).join(', ')} (prepare() creates missing fields)`, {
        context: { platform: 'zendesk', entity: 'ticket', recordId: ticket.sourceId, field: `customFields.${result.unknown[0]}` },
      });
    }
    return result.custom_fields;
  }

  /** Uploads a comment's attachments (one upload token for all of them) and points inline images at the uploaded copies. */
  private async commentInput(comment: Comment, context: WriteContext, withTime: boolean): Promise<ZdCommentInput> {
    let body = comment.body;
    let token: string | null = null;
    // Files over Zendesk's 50 MB per upload go to the attachment location as links, or are named.
    const leftOut: AttachmentMeta[] = [];
    const fetched = new Map<AttachmentMeta, Uint8Array>();
    for (const a of comment.attachments) {
      if (a.size > ZD_UPLOAD_MAX_BYTES) {
        leftOut.push(a);
        continue;
      }
      let file: { body: Uint8Array; contentType: string };
      try {
        file = await context.openAttachment(a);
      } catch (err) {
        const e = toHdmError(err, 'ATTACHMENT_FAILED');
        throw new HdmError('ATTACHMENT_FAILED', `attachment ${a.sourceId} (${a.fileName}) of comment ${comment.sourceId}: ${e.message}`, {
          retryable: e.retryable,
          context: { ...e.context, field: 'comments.attachments' },
          cause: e,
        });
      }
      if (file.body.length > ZD_UPLOAD_MAX_BYTES) {
        leftOut.push(a);
        fetched.set(a, file.body);
        continue;
      }
      const res: { body: { upload: ZdUpload } } = await this.client.send<{ upload: ZdUpload }>({
        method: 'POST',
        path: '/api/v2/uploads.json',
        // A second upload of a file whose answer was lost leaves an unused token, which Zendesk expires.
        idempotent: true,
        query: { filename: a.fileName, token: token ?? undefined },
        raw: { body: file.body, contentType: a.contentType || file.contentType || 'application/binary' },
      });
      token = res.body.upload.token;
      const uploaded = res.body.upload.attachment;
      if (a.inline) {
        for (const src of [`inline:${a.sourceId}`, a.url].filter((s) => s)) body = body.split(src).join(uploaded.content_url);
      }
    }
    if (leftOut.length > 0) body = withOverflow(body, await keepLinked(leftOut, context, false, fetched), 'Zendesk', `at most ${megabytes(ZD_UPLOAD_MAX_BYTES)} per file`);
    return toZendeskCommentInput(comment, body, token ? [token] : [], withTime);
  }

  private async comments(ticketId: string | number): Promise<ZdComment[]> {
    return this.reader.comments(ticketId);
  }

  /**
   * A new ticket goes through the import API, so its timestamps and every comment's author, time and
   * visibility survive. Tickets created at the same time share `create_many` requests (see ImportBatcher).
   */
  private async importTicket(ticket: Ticket, context: WriteContext): Promise<TargetRef> {
    const customFields = await this.customFields(ticket);
    const comments: ZdCommentInput[] = [];
    for (const comment of ticket.comments) comments.push(await this.commentInput(comment, context, true));
    const id = await this.imports.import(
      {
        ...toZendeskTicketProps(ticket, customFields),
        external_id: context.stamp || null,
        created_at: zdTime(ticket.createdAt),
        updated_at: zdTime(ticket.updatedAt),
        comments,
      },
      ticket.sourceId,
    );
    const written = await this.comments(id);
    const children: Record<string, string> = {};
    ticket.comments.forEach((c, i) => {
      if (written[i]) children[c.sourceId] = String(written[i].id);
    });
    return { targetId: String(id), children };
  }

  /**
   * Replaces the ticket's properties and appends the comments the target does not have yet. A closed
   * Zendesk ticket cannot be updated at all: it is left alone when it already matches, else rejected.
   */
  private async updateTicket(targetId: string, ticket: Ticket, context: WriteContext): Promise<TargetRef> {
    const { ticket: current } = await this.client.get<{ ticket: ZdTicket }>(`/api/v2/tickets/${targetId}.json`);
    const missing = ticket.comments.filter((c) => !(c.sourceId in context.knownChildren));
    const customFields = await this.customFields(ticket);
    const props = toZendeskTicketProps(ticket, customFields);
    if (current.status === 'closed') {
      const catalog = await this.fields();
      const now = toCanonicalTicket(current, [], catalog);
      const differs = this.ticketDiffers(now, ticket);
      if (missing.length > 0 || differs) {
        throw new HdmError(
          'REJECTED',
          `zendesk ticket ${targetId} is closed and Zendesk does not allow closed tickets to change (${missing.length > 0 ? `${missing.length} new comment(s)` : `field ${differs}`})`,
          { retryable: false, context: { platform: 'zendesk', entity: 'ticket', recordId: ticket.sourceId, field: missing.length > 0 ? 'comments' : (differs ?? undefined) } },
        );
      }
      return { targetId, children: { ...context.knownChildren } };
    }
    const before = new Set((await this.comments(targetId)).map((c) => c.id));
    for (const comment of missing) {
      const input = await this.commentInput(comment, context, false);
      // A PUT that carries a comment appends it: sending it twice would post the comment twice.
      await this.client.send({ method: 'PUT', path: `/api/v2/tickets/${targetId}.json`, json: { ticket: { comment: input } }, idempotent: false });
    }
    await this.client.send({ method: 'PUT', path: `/api/v2/tickets/${targetId}.json`, json: { ticket: { ...props, external_id: context.stamp || current.external_id } } });
    const children: Record<string, string> = { ...context.knownChildren };
    if (missing.length > 0) {
      const added = (await this.comments(targetId)).filter((c) => !before.has(c.id));
      missing.forEach((c, i) => {
        if (added[i]) children[c.sourceId] = String(added[i].id);
      });
    }
    return { targetId, children };
  }

  private ticketDiffers(now: Ticket, planned: Ticket): string | null {
    for (const key of ['subject', 'status', 'priority', 'type', 'requesterId', 'assigneeId', 'groupId', 'organizationId'] as const) {
      if ((now[key] ?? null) !== (planned[key] ?? null)) return key;
    }
    if ([...now.tags].sort().join(' ') !== [...planned.tags].sort().join(' ')) return 'tags';
    for (const [key, value] of Object.entries(planned.customFields)) {
      const a = JSON.stringify(Array.isArray(value) ? [...value].sort() : (value ?? null));
      const b = now.customFields[key];
      if (a !== JSON.stringify(Array.isArray(b) ? [...b].sort() : (b ?? null))) return `customFields.${key}`;
    }
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // Help Center: names, titles and bodies live in translations

  private async writeCategory(targetId: string | null, record: KbCategory): Promise<TargetRef> {
    const c = this.client;
    if (!targetId) {
      const res = await c.send<{ category: ZdCategory }>({
        method: 'POST',
        path: '/api/v2/help_center/categories.json',
        json: { category: { name: record.name, description: record.description ?? '', locale: record.locale, position: record.position } },
      });
      return { targetId: String(res.body.category.id) };
    }
    const { category } = await c.get<{ category: ZdCategory }>(`/api/v2/help_center/categories/${targetId}.json`);
    await c.send({ method: 'PUT', path: `/api/v2/help_center/categories/${targetId}.json`, json: { category: { position: record.position } } });
    await c.send({
      method: 'PUT',
      path: `/api/v2/help_center/categories/${targetId}/translations/${category.source_locale}.json`,
      json: { translation: { title: record.name, body: record.description ?? '' } },
    });
    return { targetId };
  }

  private async writeSection(targetId: string | null, record: KbSection): Promise<TargetRef> {
    const c = this.client;
    if (!targetId) {
      const res = await c.send<{ section: ZdSection }>({
        method: 'POST',
        path: `/api/v2/help_center/categories/${record.categoryId}/sections.json`,
        json: { section: { name: record.name, description: record.description ?? '', locale: record.locale, position: record.position } },
      });
      return { targetId: String(res.body.section.id) };
    }
    const { section } = await c.get<{ section: ZdSection }>(`/api/v2/help_center/sections/${targetId}.json`);
    await c.send({
      method: 'PUT',
      path: `/api/v2/help_center/sections/${targetId}.json`,
      json: { section: { category_id: Number(record.categoryId), position: record.position } },
    });
    await c.send({
      method: 'PUT',
      path: `/api/v2/help_center/sections/${targetId}/translations/${section.source_locale}.json`,
      json: { translation: { title: record.name, body: record.description ?? '' } },
    });
    return { targetId };
  }

  private permissionGroupId(): Promise<number> {
    if (!this.permissionGroup) {
      this.permissionGroup = this.client
        .get<{ permission_groups: { id: number }[] }>('/api/v2/guide/permission_groups.json')
        .then((b) => {
          const first = b.permission_groups[0];
          if (!first) throw new HdmError('REJECTED', 'zendesk Help Center has no permission group to publish articles under', { context: { platform: 'zendesk' } });
          return first.id;
        });
      this.permissionGroup.catch(() => (this.permissionGroup = null));
    }
    return this.permissionGroup;
  }

  private async writeArticle(targetId: string | null, record: KbArticle): Promise<TargetRef> {
    const c = this.client;
    const meta = {
      author_id: record.authorId === null ? undefined : Number(record.authorId),
      label_names: record.tags,
      position: record.position,
    };
    let id = targetId;
    let existing = new Map<string, ZdTranslation>();
    let sourceLocale = record.locale;
    if (!id) {
      const res = await c.send<{ article: ZdArticle }>({
        method: 'POST',
        path: `/api/v2/help_center/sections/${record.sectionId}/articles.json`,
        json: {
          article: {
            ...meta,
            title: record.title,
            body: record.body,
            locale: record.locale,
            draft: record.draft,
            permission_group_id: await this.permissionGroupId(),
            user_segment_id: null,
          },
          notify_subscribers: false,
        },
      });
      id = String(res.body.article.id);
    } else {
      const { article } = await c.get<{ article: ZdArticle }>(`/api/v2/help_center/articles/${id}.json`);
      sourceLocale = article.source_locale;
      await c.send({ method: 'PUT', path: `/api/v2/help_center/articles/${id}.json`, json: { article: { ...meta, section_id: Number(record.sectionId) } } });
      existing = new Map((await this.reader.translations(id)).map((t) => [t.locale, t]));
      await c.send({
        method: 'PUT',
        path: `/api/v2/help_center/articles/${id}/translations/${sourceLocale}.json`,
        json: { translation: { title: record.title, body: record.body, draft: record.draft } },
      });
    }
    for (const t of record.translations) {
      if (t.locale === sourceLocale) continue;
      const translation = { locale: t.locale, title: t.title, body: t.body, draft: t.draft };
      if (existing.has(t.locale)) {
        await c.send({ method: 'PUT', path: `/api/v2/help_center/articles/${id}/translations/${t.locale}.json`, json: { translation } });
      } else {
        await c.send({ method: 'POST', path: `/api/v2/help_center/articles/${id}/translations.json`, json: { translation } });
      }
    }
    return { targetId: id };
  }

  // -------------------------------------------------------------------------------------------
  // delete, prepare

  async delete(entity: EntityName, targetId: string): Promise<void> {
    const path: Record<EntityName, string> = {
      ticket: `/api/v2/tickets/${targetId}.json`,
      agent: `/api/v2/users/${targetId}.json`,
      contact: `/api/v2/users/${targetId}.json`,
      organization: `/api/v2/organizations/${targetId}.json`,
      group: `/api/v2/groups/${targetId}.json`,
      ticketField: `/api/v2/ticket_fields/${targetId}.json`,
      kbCategory: `/api/v2/help_center/categories/${targetId}.json`,
      kbSection: `/api/v2/help_center/sections/${targetId}.json`,
      kbArticle: `/api/v2/help_center/articles/${targetId}.json`,
    };
    try {
      await this.client.send({ method: 'DELETE', path: path[entity], okStatuses: [404] });
      // A deleted user stays as an inactive stub; removing what a run created means deleting it for good.
      if (entity === 'agent' || entity === 'contact') {
        await this.client.send({ method: 'DELETE', path: `/api/v2/deleted_users/${targetId}.json`, okStatuses: [404] });
      }
    } catch (err) {
      throw this.fail(err, entity, targetId, 'deleting');
    }
  }

  /**
   * The one field for `key` after this writer created `created`. Zendesk accepts any number of ticket
   * fields with one title, so two loaders that both found a field missing would leave two: the lowest ID
   * wins for every writer (a higher ID was created later, so its creator sees the lower one), and the
   * loser deletes its own copy.
   */
  private async oneField(created: ZdTicketField, key: string): Promise<ZdTicketField> {
    const catalog = await this.fields(true);
    const winner = [...catalog.byId.values()].filter((f) => f.id === created.id || catalog.keyOf(f) === key).sort((a, b) => a.id - b.id)[0] ?? created;
    if (winner.id === created.id) return created;
    await this.client.send({ method: 'DELETE', path: `/api/v2/ticket_fields/${created.id}.json`, okStatuses: [404] });
    await this.fields(true);
    return winner;
  }

  /** Creates the custom ticket fields the source uses and Zendesk lacks (matched by title), adding missing dropdown options. */
  async prepare(context: { ticketFields: TicketField[] }): Promise<PrepareResult> {
    const catalog = await this.fields(true);
    const createdFields: string[] = [];
    const existing = [...catalog.byId.values()];
    for (const field of context.ticketFields) {
      const match = catalog.byKey.get(field.key) ?? existing.find((f) => sameText(f.title, field.title));
      try {
        if (!match) {
          const res = await this.client.send<{ ticket_field: ZdTicketField }>({
            method: 'POST',
            path: '/api/v2/ticket_fields.json',
            json: { ticket_field: toZendeskTicketField(field) },
          });
          const kept = await this.oneField(res.body.ticket_field, field.key);
          this.titleByKey.set(field.key, kept.title);
          if (kept.id !== res.body.ticket_field.id) continue;
          this.prepared.set(field.key, kept.id);
          createdFields.push(String(kept.id));
          continue;
        }
        this.titleByKey.set(field.key, match.title);
        if (!isCustomField(match)) continue;
        const description = agentDescriptionFor(field.key, match);
        if (description !== null) {
          await this.client.send({ method: 'PUT', path: `/api/v2/ticket_fields/${match.id}.json`, json: { ticket_field: { agent_description: description } } });
        }
        if ((match.type === 'tagger' || match.type === 'multiselect') && (field.type === 'dropdown' || field.type === 'multiselect')) {
          const options = match.custom_field_options ?? [];
          const missing = field.options.filter((o) => !options.some((x) => sameText(x.name, o.label)));
          if (missing.length > 0) {
            const wanted = toZendeskTicketField({ ...field, options: missing }).custom_field_options as { name: string; value: string }[];
            const taken = new Set(options.map((o) => o.value));
            const added = wanted.map((o) => {
              let value = o.value;
              while (taken.has(value)) value = `${value}_`;
              taken.add(value);
              return { name: o.name, value };
            });
            await this.client.send({
              method: 'PUT',
              path: `/api/v2/ticket_fields/${match.id}.json`,
              json: { ticket_field: { custom_field_options: [...options.map((o) => ({ id: o.id, name: o.name, value: o.value })), ...added] } },
            });
          }
        }
      } catch (err) {
        throw this.fail(err, 'ticketField', field.sourceId, 'preparing');
      }
    }
    await this.fields(true);
    return { createdFields };
  }
}
