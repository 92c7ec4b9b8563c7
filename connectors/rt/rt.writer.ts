import type { Limitation, PrepareResult, StampedRecord, TargetCapabilities, TargetRef, WriteContext } from '../sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import type { Agent, Comment, Contact, EntityName, EntityTypes, Group, Ticket, TicketField } from '../../schemas/canonical.ts';
import { TICKET_PRIORITIES, TICKET_TYPES } from '../../schemas/canonical.ts';
import { RtClient, type RtCollection } from './rt.client.ts';
import {
  fieldKey,
  duplicateMeta,
  fieldMeta,
  isDuplicateField,
  priorityToRt,
  RT_INTERNAL_FIELDS,
  RT_SOURCE_ID_FIELD,
  RT_TAGS_FIELD,
  RT_TARGET_STATUSES,
  RT_TYPE_FIELD,
  rtFieldType,
  allowEmpty,
  sqlTime,
  STATUS_TO_RT,
  valueToRt,
  type RtCustomField,
} from './rt.mapping.ts';
import type { RtDirectory } from './rt.reader.ts';

/** What RT cannot keep when written through REST2 (verified against a running RT 5.0.3, Debian's deb12u7 security release). */
export const RT_LIMITATIONS: readonly Limitation[] = [
  {
    entity: 'ticket',
    field: 'comments.authorId',
    description: 'REST2 records the API user (the token owner) as the creator of every transaction; original comment authors are not kept.',
  },
  {
    entity: 'ticket',
    field: 'comments.createdAt',
    description: 'REST2 stamps each transaction with the time of the API call; original comment times are not kept.',
  },
  {
    entity: 'ticket',
    field: 'createdAt',
    description:
      "REST2 stamps a new ticket with the time of the API call: RT's 2026 security releases drop the Created value a client sends. The writer still sends it, and releases before them keep it.",
  },
  { entity: 'ticket', field: 'organizationId', description: 'RT has no organizations.' },
  {
    entity: 'ticket',
    field: 'groupId',
    description: 'Every RT ticket belongs to a queue: a ticket without a group is written to the General queue and reads back in it.',
  },
  { entity: 'contact', field: 'organizationId', description: 'RT has no organizations.' },
  { entity: 'contact', field: 'tags', description: 'RT users have no tags, and REST2 cannot apply user custom fields to hold them.' },
  { entity: 'contact', field: 'customFields', description: 'REST2 cannot apply user custom fields; contact custom fields are not kept.' },
  { entity: 'agent', field: 'groupIds', description: 'RT gives agents queues through rights, not membership; queue membership is not written.' },
];

export const RT_CAPABILITIES: TargetCapabilities = {
  // TicketSQL reads the database: a write shows at once.
  writeVisibleWithinMs: 1_000,
  // REST2 stamps each ticket and transaction with the time of the call and the token owner as creator:
  // the mapper writes the originals into a header line and the original_created_at Date field.
  setsOwnTimes: true,
  ticketStatuses: RT_TARGET_STATUSES,
  ticketPriorities: TICKET_PRIORITIES,
  ticketTypes: TICKET_TYPES,
  entities: ['group', 'agent', 'contact', 'ticketField', 'ticket'],
  fieldTypeFallbacks: {
    checkbox: 'a single-value Select field with the values true and false',
    integer: 'a Freeform field validated by a whole-number pattern',
    decimal: 'a Freeform field validated by a decimal pattern',
    regex: 'a Freeform field validated by the same pattern',
  },
  undeletable: {
    agent: 'RT never deletes users; REST2 can only disable them',
    contact: 'RT never deletes users; REST2 can only disable them',
    group: 'RT never deletes queues; REST2 can only disable them',
    ticketField: 'RT never deletes custom fields; REST2 can only disable them',
  },
};

const NOBODY = 'Nobody';
/** How long a writer that lost a field race waits for the winner's values: rounds × ms. */
const VALUE_WAIT_ROUNDS = 20;
const VALUE_WAIT_MS = 250;

type RtTicketValues = { id: string | number; values: string[] }[];

export class RtWriter {
  private internal: Promise<void> | null = null;

  constructor(
    private readonly client: RtClient,
    private readonly directory: RtDirectory,
  ) {}

  /** The ticket fields that hold the source-ID stamp, tags and ticket type: RT has no native place for them. */
  ensureInternalFields(): Promise<void> {
    if (!this.internal) {
      this.internal = (async () => {
        await this.ensureField(RT_SOURCE_ID_FIELD, { Type: 'Freeform', MaxValues: 1, Pattern: '', values: [] }, 'The ID of the record this ticket was migrated from (helpdesk-migrator).');
        await this.ensureField(RT_TAGS_FIELD, { Type: 'Freeform', MaxValues: 0, Pattern: '', values: [] }, 'Tags (helpdesk-migrator).');
        await this.ensureField(RT_TYPE_FIELD, { Type: 'Select', MaxValues: 1, Pattern: '', values: TICKET_TYPES.map((t) => t[0].toUpperCase() + t.slice(1)) }, 'Ticket type (helpdesk-migrator).');
      })();
      this.internal.catch(() => (this.internal = null));
    }
    return this.internal;
  }

  private async ensureField(name: string, type: ReturnType<typeof rtFieldType>, description: string): Promise<string> {
    const existing = await this.directory.fieldByName(name);
    if (existing) return String(existing.id);
    return (await this.createField({ Name: name, Description: description, ...type }, (cf) => cf.Name === name && String(cf.Disabled ?? '0') === '0')).id;
  }

  /**
   * Creates a ticket field; `same` recognises the copies other writers made of it. RT accepts any number
   * of custom fields with one name, so two loaders that both found the field missing would leave two:
   * after creating, every writer lists the copies and the lowest ID wins for all of them (a higher ID was
   * created later, so its creator sees the lower one). The losing copy is renamed, marked and disabled
   * (REST2 cannot delete a custom field), and its creator uses the winner.
   */
  private async createField(
    spec: { Name: string; Description: string; Type: string; MaxValues: number; Pattern: string; values: string[]; Disabled?: number },
    same: (cf: RtCustomField) => boolean,
  ): Promise<{ id: string; adopted: boolean }> {
    // `Queue: 0` applies the field to every queue (RT's compatibility path in CustomField->Create).
    const res = await this.client.post<{ id: string }>('customfield', {
      Name: spec.Name,
      Description: spec.Description,
      Type: spec.Type,
      MaxValues: spec.MaxValues,
      Pattern: spec.Pattern,
      LookupType: 'RT::Queue-RT::Ticket',
      Queue: 0,
      Disabled: spec.Disabled ?? 0,
    });
    const id = String(res.body.id);
    const winner = [...(await this.directory.ticketFields(true)).values()].filter((cf) => same(cf) || String(cf.id) === id).sort(byId)[0];
    if (winner && String(winner.id) !== id) {
      await this.client.put(`customfield/${id}`, { Name: `${spec.Name} (duplicate ${id})`, Description: duplicateMeta(String(winner.id)), Disabled: 1 });
      await this.directory.refreshField(id);
      await this.awaitValues(String(winner.id), spec.values);
      return { id: String(winner.id), adopted: true };
    }
    for (const value of spec.values) await this.client.post(`customfield/${id}/value`, { Name: value });
    await this.directory.refreshField(id);
    return { id, adopted: false };
  }

  /**
   * Waits for the winner of a field race to add its values (a ticket written with a value the field
   * does not have yet would lose it); a winner that died meanwhile leaves them to this writer.
   */
  private async awaitValues(id: string, values: string[]): Promise<void> {
    if (values.length === 0) return;
    let missing = values;
    for (let attempt = 0; attempt < VALUE_WAIT_ROUNDS; attempt++) {
      const have = new Set((await this.client.all<{ name?: string; Name?: string }>(`customfield/${id}/values`, { fields: 'Name' })).map((v) => v.Name ?? v.name ?? ''));
      missing = values.filter((v) => !have.has(v));
      if (missing.length === 0) break;
      await new Promise((r) => setTimeout(r, VALUE_WAIT_MS));
    }
    for (const value of missing) await this.client.post(`customfield/${id}/value`, { Name: value });
    await this.directory.refreshField(id);
  }

  async prepare(context: { ticketFields: TicketField[] }): Promise<PrepareResult> {
    await this.directory.ticketFields(true);
    await this.ensureInternalFields();
    const createdFields: string[] = [];
    for (const field of context.ticketFields) {
      const found = this.matchField(await this.directory.ticketFields(), field);
      if (found) continue;
      // A field another loader created at the same moment is theirs: this run did not create it.
      const made = await this.createTicketField(field);
      if (!made.adopted) createdFields.push(made.id);
    }
    return { createdFields };
  }

  async find<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): Promise<TargetRef | null> {
    switch (entity) {
      case 'group': {
        const res = await this.client.get<{ id: number }>(`queue/${encodeURIComponent((record as Group).name)}`, undefined, [404]);
        return res.status === 404 ? null : { targetId: String(res.body.id) };
      }
      case 'agent':
      case 'contact': {
        const person = record as Agent | Contact;
        const id = await this.findUser(person.email, stamp);
        return id ? { targetId: id } : null;
      }
      case 'ticketField': {
        const field = record as TicketField;
        const cf = this.matchField(await this.directory.ticketFields(), field) ?? this.matchField(await this.directory.ticketFields(true), field);
        return cf ? { targetId: String(cf.id) } : null;
      }
      case 'ticket': {
        await this.ensureInternalFields();
        const res = await this.client.get<RtCollection<{ id: string }>>('tickets', {
          query: `'CF.{${RT_SOURCE_ID_FIELD}}' = '${stamp.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
          orderby: 'id',
          per_page: 10,
        });
        const first = res.body.items[0];
        return first ? { targetId: String(first.id) } : null;
      }
      default:
        return null;
    }
  }

  /** Tickets whose source-ID field starts with `prefix`, by TicketSQL, in ID order. */
  async *stampedTickets(prefix: string, signal?: AbortSignal): AsyncGenerator<StampedRecord[]> {
    await this.ensureInternalFields();
    const field = await this.directory.fieldByName(RT_SOURCE_ID_FIELD);
    const like = prefix.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    const pages = this.client.pages<{ id: string | number; CustomFields?: { id: string | number; values?: string[] }[] }>('tickets', {
      // TicketSQL's LIKE matches anywhere in the value: the prefix is checked below.
      query: `'CF.{${RT_SOURCE_ID_FIELD}}' LIKE '${like}'`,
      fields: 'CustomFields',
      orderby: 'id',
    });
    for await (const items of pages) {
      signal?.throwIfAborted();
      yield items.flatMap((t) => {
        const stamp = t.CustomFields?.find((cf) => String(cf.id) === String(field?.id))?.values?.[0];
        return stamp?.startsWith(prefix) ? [{ stamp, targetId: String(t.id) }] : [];
      });
    }
  }

  /** An RT ticket field for a canonical one: by the key the writer noted, else by name. */
  private matchField(all: Map<string, RtCustomField>, field: TicketField): RtCustomField | null {
    const fields = [...all.values()].filter((cf) => !RT_INTERNAL_FIELDS.has(cf.Name) && !isDuplicateField(cf)).sort(byId);
    return fields.find((f) => hasKey(f, field.key)) ?? fields.find((f) => f.Name === field.title && String(f.Disabled ?? '0') === '0') ?? null;
  }

  /** A user by email, else (people without email) by the Name the writer gave them: the stamp. */
  private async findUser(email: string | null, stamp: string): Promise<string | null> {
    if (email) {
      const res = await this.client.http.send<RtCollection<{ id: string; Name: string }>>({
        method: 'POST',
        path: 'users',
        idempotent: true,
        query: { find_disabled_rows: 1, fields: 'Name', per_page: 5 },
        json: [{ field: 'EmailAddress', value: email.toLowerCase() }],
      });
      const hit = res.body.items[0];
      if (hit) {
        const user = await this.directory.user(hit.Name);
        if (user) return String(user.id);
      }
    }
    if (!stamp) return null;
    this.directory.forgetUser(stamp);
    const byName = await this.directory.user(stamp);
    return byName ? String(byName.id) : null;
  }

  async create<E extends EntityName>(entity: E, record: EntityTypes[E], context?: WriteContext): Promise<TargetRef> {
    switch (entity) {
      case 'group': {
        const g = record as Group;
        const res = await this.client.http.send<{ id: string; message?: string }>({ method: 'POST', path: 'queue', json: { Name: g.name, Description: g.description ?? '' }, okStatuses: [400] });
        if (res.status !== 400) return { targetId: String(res.body.id) };
        // RT refuses a second queue with a name ("Queue already exists", or "could not be created" when
        // both inserts overlap): another loader created it since find() looked (two source groups with
        // one name sit on different partitions). This one adopts it, as find() would have.
        const theirs = await this.find('group', g, '');
        if (!theirs) {
          throw new HdmError('REJECTED', `rt refused group ${g.sourceId}: ${res.body.message ?? JSON.stringify(res.body)}`, {
            context: { platform: 'rt', entity, recordId: g.sourceId, httpStatus: 400 },
          });
        }
        return this.update('group', theirs.targetId, g, context);
      }
      case 'agent':
      case 'contact':
        return { targetId: await this.createUser(entity, record as Agent | Contact, context?.stamp ?? '') };
      case 'ticketField':
        return { targetId: (await this.createTicketField(record as TicketField)).id };
      case 'ticket':
        return this.createTicket(record as Ticket, requireContext(context, 'ticket', record.sourceId));
      default:
        throw new HdmError('REJECTED', `rt cannot hold ${entity} records`, { context: { platform: 'rt', entity, recordId: record.sourceId } });
    }
  }

  async update<E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context?: WriteContext): Promise<TargetRef> {
    switch (entity) {
      case 'group': {
        const g = record as Group;
        await this.client.put(`queue/${targetId}`, { Name: g.name, Description: g.description ?? '' });
        return { targetId };
      }
      case 'agent':
      case 'contact': {
        await this.client.put(`user/${targetId}`, this.userBody(entity, record as Agent | Contact, null));
        this.directory.forgetUser(targetId);
        return { targetId };
      }
      case 'ticketField':
        await this.updateField(targetId, record as TicketField);
        return { targetId };
      case 'ticket':
        return this.updateTicket(targetId, record as Ticket, requireContext(context, 'ticket', record.sourceId));
      default:
        throw new HdmError('REJECTED', `rt cannot hold ${entity} records`, { context: { platform: 'rt', entity, recordId: record.sourceId } });
    }
  }

  async delete(entity: EntityName, targetId: string): Promise<void> {
    const path = { ticket: 'ticket', agent: 'user', contact: 'user', group: 'queue', ticketField: 'customfield' }[entity as string];
    if (!path) return;
    // REST2 deletes tickets by status and disables users, queues and fields.
    await this.client.delete(`${path}/${targetId}`);
  }

  private userBody(entity: 'agent' | 'contact', person: Agent | Contact, name: string | null): Record<string, unknown> {
    const body: Record<string, unknown> = {
      EmailAddress: person.email ?? '',
      RealName: person.name,
    };
    if (name) body.Name = name;
    if (person.timeZone) body.Timezone = person.timeZone;
    if (entity === 'agent') {
      body.Privileged = 1;
      body.Disabled = (person as Agent).active ? 0 : 1;
    } else {
      body.WorkPhone = (person as Contact).phone ?? '';
      // A contact's Privileged flag is left alone on update: the same person may be an agent.
      if (name) body.Privileged = 0;
    }
    return body;
  }

  /**
   * People with an email are named by it, as RT names users created from mail. People without one
   * (phone-only contacts) are named by their stamp, e.g. `zendesk:100017`: unique, and how find()
   * recognises them after a crash.
   */
  private async createUser(entity: 'agent' | 'contact', person: Agent | Contact, stamp: string): Promise<string> {
    const name = person.email ? person.email.toLowerCase() : stamp;
    if (!name) {
      throw new HdmError('INVALID_RECORD', `${entity} ${person.sourceId}: no email and no stamp to name the RT user by`, {
        context: { platform: 'rt', entity, recordId: person.sourceId, field: 'email' },
      });
    }
    const res = await this.client.http.send<{ id: string; message?: string }>({ method: 'POST', path: 'user', json: this.userBody(entity, person, name), okStatuses: [400] });
    if (res.status === 400) {
      // RT names users uniquely: a user named so appeared since find() (another loader wrote the same
      // person as an agent and a contact at once, or the same record). This one is adopted and updated.
      this.directory.forgetUser(name);
      const theirs = await this.directory.user(name);
      if (theirs) {
        await this.update(entity, String(theirs.id), person);
        return String(theirs.id);
      }
      throw new HdmError('REJECTED', `rt refused ${entity} ${person.sourceId}: ${res.body.message ?? JSON.stringify(res.body)}`, {
        context: { platform: 'rt', entity, recordId: person.sourceId, httpStatus: 400 },
      });
    }
    this.directory.forgetUser(name);
    const user = await this.directory.user(name);
    if (!user) throw new HdmError('INTERNAL', `rt created user ${name} but cannot read it back`, { context: { platform: 'rt', entity, recordId: person.sourceId } });
    return String(user.id);
  }

  private async createTicketField(f: TicketField): Promise<{ id: string; adopted: boolean }> {
    const type = rtFieldType(f.type);
    return this.createField(
      {
        Name: f.title,
        Description: fieldMeta(f.key, f.type),
        ...type,
        Pattern: f.type === 'regex' ? allowEmpty(f.pattern ?? '') : type.Pattern,
        values: f.type === 'dropdown' || f.type === 'multiselect' ? f.options.map((o) => o.label) : type.values,
        Disabled: f.active ? 0 : 1,
      },
      (cf) => hasKey(cf, f.key),
    );
  }

  private async updateField(targetId: string, f: TicketField): Promise<void> {
    const fields = await this.directory.ticketFields(true);
    const cf = fields.get(targetId);
    const type = rtFieldType(f.type);
    const body: Record<string, unknown> = { Name: f.title, Disabled: f.active ? 0 : 1 };
    // A field the writer did not create keeps its description; ours carry the canonical key and type.
    if (!cf || cf.Description?.includes('hdm:key=') || !cf.Description) body.Description = fieldMeta(f.key, f.type);
    if (f.type === 'regex') body.Pattern = allowEmpty(f.pattern ?? '');
    await this.client.put(`customfield/${targetId}`, body);
    const labels = f.type === 'dropdown' || f.type === 'multiselect' ? f.options.map((o) => o.label) : f.type === 'checkbox' ? type.values : [];
    if (labels.length > 0) {
      const values = await this.client.all<{ id: string; name?: string; Name?: string }>(`customfield/${targetId}/values`, { fields: 'Name' });
      const have = new Map(values.map((v) => [v.Name ?? v.name ?? '', v.id]));
      for (const label of labels) if (!have.has(label)) await this.client.post(`customfield/${targetId}/value`, { Name: label });
      for (const [label, id] of have) if (!labels.includes(label)) await this.client.delete(`customfield/${targetId}/value/${id}`);
    }
    await this.directory.refreshField(targetId);
  }

  /** CustomFields for REST2, keyed by RT field ID: canonical fields plus the stamp, tags and type. */
  private async ticketCustomFields(t: Ticket, stamp: string | null, current: RtTicketValues | null): Promise<Record<string, unknown>> {
    const clearMissing = current !== null;
    const has = (id: string) => (current?.find((v) => String(v.id) === id)?.values ?? []).some((v) => v !== '');
    // Single-value fields clear with '' (see allowEmpty); only fields holding a value are cleared.
    const clear = (cf: RtCustomField) => (Number(cf.MaxValues) === 1 ? (has(String(cf.id)) ? '' : undefined) : []);
    await this.ensureInternalFields();
    let fields = await this.directory.ticketFields();
    const byKey = (all: Map<string, RtCustomField>) => {
      const m = new Map<string, RtCustomField>();
      // The lowest ID first: a key held twice (see createField) resolves to the same field in every writer.
      for (const cf of [...all.values()].sort(byId).reverse()) if (!RT_INTERNAL_FIELDS.has(cf.Name) && String(cf.Disabled ?? '0') === '0') m.set(fieldKey(cf), cf);
      return m;
    };
    let keys = byKey(fields);
    if (Object.keys(t.customFields).some((k) => t.customFields[k] !== null && !keys.has(k))) {
      fields = await this.directory.ticketFields(true);
      keys = byKey(fields);
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(t.customFields)) {
      const cf = keys.get(key);
      if (!cf) {
        if (value === null) continue;
        throw new HdmError('INVALID_RECORD', `ticket ${t.sourceId}: custom field "${key}" does not exist in RT (was the ticket field migrated?)`, {
          context: { platform: 'rt', entity: 'ticket', recordId: t.sourceId, field: `customFields.${key}` },
        });
      }
      const v = valueToRt(value);
      if (v === null || (Array.isArray(v) && v.length === 0)) {
        if (clearMissing && clear(cf) !== undefined) out[String(cf.id)] = clear(cf);
        continue;
      }
      out[String(cf.id)] = v;
    }
    if (clearMissing) {
      for (const [key, cf] of keys) if (!(key in t.customFields) && clear(cf) !== undefined) out[String(cf.id)] = clear(cf);
    }
    const internal = async (name: string) => String((await this.directory.fieldByName(name))!.id);
    if (stamp) out[await internal(RT_SOURCE_ID_FIELD)] = stamp;
    out[await internal(RT_TAGS_FIELD)] = [...t.tags];
    const typeId = await internal(RT_TYPE_FIELD);
    if (t.type) out[typeId] = t.type[0].toUpperCase() + t.type.slice(1);
    else if (clearMissing && has(typeId)) out[typeId] = '';
    return out;
  }

  /** The message part of a comment for REST2: HTML content plus base64 attachments. */
  private async message(comment: Comment, context: WriteContext): Promise<{ Content?: string; ContentType?: string; Attachments?: unknown[] }> {
    let body = comment.body ?? '';
    const attachments: unknown[] = [];
    for (const a of comment.attachments) {
      let file: { body: Uint8Array; contentType: string };
      try {
        file = await context.openAttachment(a);
      } catch (err) {
        throw new HdmError('ATTACHMENT_FAILED', `attachment ${a.sourceId} (${a.fileName}) of comment ${comment.sourceId} could not be downloaded from the source`, {
          context: { platform: 'rt', entity: 'ticket', field: 'comments.attachments', recordId: a.sourceId },
          cause: err,
        });
      }
      // REST2 hands the JSON-decoded name to MIME headers and RT then decodes those as UTF-8 bytes: a
      // non-ASCII name survives only when sent as its UTF-8 bytes, one character per byte.
      attachments.push({ FileName: Buffer.from(a.fileName, 'utf8').toString('latin1'), FileType: a.contentType || file.contentType || 'application/octet-stream', FileContent: Buffer.from(file.body).toString('base64') });
      if (a.inline) body = inlineReference(body, a);
    }
    const out: { Content?: string; ContentType?: string; Attachments?: unknown[] } = {};
    if (body || attachments.length === 0) {
      // REST2 needs content or attachments; an empty description still becomes a (blank) message.
      out.Content = body || ' ';
      out.ContentType = 'text/html';
    }
    if (attachments.length > 0) out.Attachments = attachments;
    return out;
  }

  private async createTicket(t: Ticket, context: WriteContext): Promise<TargetRef> {
    const [first, ...rest] = t.comments;
    const description = first && first.public ? first : null;
    const createStatus = ['new', 'open', 'resolved'].includes(STATUS_TO_RT[t.status]) ? STATUS_TO_RT[t.status] : 'open';
    const body: Record<string, unknown> = {
      Queue: t.groupId ?? 'General',
      Subject: t.subject,
      Status: createStatus,
      Priority: priorityToRt(t.priority),
      Owner: t.assigneeId ?? NOBODY,
      Created: sqlTime(t.createdAt),
      CustomFields: await this.ticketCustomFields(t, context.stamp, null),
    };
    if (t.requesterId) body.Requestor = [t.requesterId];
    if (description) Object.assign(body, await this.message(description, context));
    const res = await this.client.post<{ id: string }>('ticket', body);
    const targetId = String(res.body.id);
    const children: Record<string, string> = {};
    if (description) {
      const history = await this.client.get<RtCollection<{ id: string; Type?: string }>>(`ticket/${targetId}/history`, { per_page: 1, fields: 'Type' });
      const created = history.body.items[0];
      if (created) children[description.sourceId] = String(created.id);
    }
    const pending = description ? rest : t.comments;
    for (const c of pending) children[c.sourceId] = await this.appendComment(targetId, c, context);
    await this.settle(targetId, t, createStatus, pending.length > 0);
    return { targetId, children };
  }

  private async appendComment(targetId: string, comment: Comment, context: WriteContext): Promise<string> {
    const res = await this.client.post<string[]>(`ticket/${targetId}/${comment.public ? 'correspond' : 'comment'}`, await this.message(comment, context));
    return RtClient.idOf(res.headers.location);
  }

  /** Puts back what RT changes as messages arrive (a reply opens a new ticket, reopens a resolved one) and checks the owner took. */
  private async settle(targetId: string, t: Ticket, statusNow: string, touched: boolean): Promise<void> {
    const wanted = STATUS_TO_RT[t.status];
    if (touched || wanted !== statusNow) await this.client.put(`ticket/${targetId}`, { Status: wanted });
    if (t.assigneeId) {
      const res = await this.client.get<{ Owner: { id: string } }>(`ticket/${targetId}`);
      const owner = await this.directory.user(res.body.Owner.id);
      if (!owner || String(owner.id) !== t.assigneeId) {
        throw new HdmError('REJECTED', `ticket ${t.sourceId}: RT did not make user ${t.assigneeId} the owner; grant that agent the OwnTicket right on queue ${t.groupId ?? 'General'}`, {
          context: { platform: 'rt', entity: 'ticket', recordId: t.sourceId, field: 'assigneeId' },
        });
      }
    }
  }

  private async updateTicket(targetId: string, t: Ticket, context: WriteContext): Promise<TargetRef> {
    const current = await this.client.get<{ Status: string; CustomFields?: RtTicketValues }>(`ticket/${targetId}`, undefined, [404]);
    if (current.status === 404) throw new HdmError('NOT_FOUND', `rt ticket ${targetId} is gone`, { context: { platform: 'rt', entity: 'ticket', recordId: t.sourceId } });
    const body: Record<string, unknown> = {
      Subject: t.subject,
      Priority: priorityToRt(t.priority),
      Owner: t.assigneeId ?? NOBODY,
      CustomFields: await this.ticketCustomFields(t, context.stamp, current.body.CustomFields ?? []),
      Requestor: t.requesterId ? [t.requesterId] : [],
    };
    if (t.groupId) body.Queue = t.groupId;
    await this.client.put(`ticket/${targetId}`, body);
    const children: Record<string, string> = {};
    let appended = false;
    for (const c of t.comments) {
      if (context.knownChildren[c.sourceId]) continue;
      children[c.sourceId] = await this.appendComment(targetId, c, context);
      appended = true;
    }
    await this.settle(targetId, t, current.body.Status, appended || current.body.Status !== STATUS_TO_RT[t.status]);
    return { targetId, children };
  }
}

const byId = (a: RtCustomField, b: RtCustomField) => Number(a.id) - Number(b.id);

const hasKey = (cf: RtCustomField, key: string) => cf.Description?.includes(`hdm:key=${key};`) ?? false;

function requireContext(context: WriteContext | undefined, entity: EntityName, id: string): WriteContext {
  if (!context) throw new HdmError('INTERNAL', `rt: writing ${entity} ${id} needs a write context`, { context: { platform: 'rt', entity, recordId: id } });
  return context;
}

/**
 * Points the body's reference to an inline image at the attachment RT will store (`cid:<file name>`),
 * adding one when the body has none, so a reader can tell inline images from attached files.
 */
export function inlineReference(body: string, a: { sourceId: string; fileName: string; url: string }): string {
  const cid = `cid:${encodeURIComponent(a.fileName)}`;
  if (body.includes(cid)) return body;
  const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const refs = [`inline:${a.sourceId}`, a.url].filter(Boolean).map(escaped);
  const pattern = new RegExp(`(src=["'])(?:${refs.join('|')})(["'])`, 'g');
  const replaced = body.replace(pattern, `$1${cid}$2`);
  return replaced !== body ? replaced : `${body}<p><img src="${cid}" alt=""></p>`;
}
