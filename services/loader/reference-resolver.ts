import { HdmError } from '../../schemas/errors.ts';
import type { Agent, Contact, EntityName, EntityTypes, KbArticle, KbSection, Ticket } from '../../schemas/canonical.ts';
import type { IdMapCache } from './id-map-cache.ts';

export interface ResolveResult<E extends EntityName> {
  record: EntityTypes[E];
  /** What was re-assigned or dropped, for the report. */
  notes: string[];
}

/**
 * Turns a planned record's source references into target IDs through the id map. Users are looked up
 * as agents first, then contacts; what no longer maps to an agent goes to the default agent.
 */
export class ReferenceResolver {
  constructor(
    private readonly ids: IdMapCache,
    /** Target ID of the agent who receives what unmatched, deactivated or deleted agents did. */
    private readonly defaultAgentTargetId: () => string | null | Promise<string | null>,
    /**
     * Loads a referenced record that is not migrated yet (created at the source after its stream was
     * read) and returns its target ID, or null when the source has no such record.
     */
    private readonly onMissing: ((entity: EntityName, sourceId: string) => Promise<string | null>) | null = null,
    /** Told of each source user whose reference went to the default agent (for the run's report). */
    private readonly onReassign: ((userSourceId: string) => void) | null = null,
  ) {}

  /** Target IDs for references, loading on the fly what the id map does not know yet. */
  private async lookup(entity: EntityName, sourceIds: (string | null)[]): Promise<Map<string, string>> {
    const ids = sourceIds.filter((id): id is string => id !== null);
    const found = await this.ids.targetIds(entity, ids);
    if (this.onMissing) {
      for (const id of new Set(ids)) {
        if (found.has(id)) continue;
        const loaded = await this.onMissing(entity, id);
        if (loaded) found.set(id, loaded);
      }
    }
    return found;
  }

  /** Fetches, in a few queries, the id map entries a page of records will need. */
  async prefetch(entity: EntityName, records: EntityTypes[EntityName][]): Promise<void> {
    const refs = new Map<EntityName, string[]>();
    const add = (e: EntityName, id: string | null) => {
      if (id !== null) refs.set(e, [...(refs.get(e) ?? []), id]);
    };
    for (const record of records) {
      add(entity, record.sourceId);
      if (entity === 'ticket') {
        const t = record as Ticket;
        for (const id of [t.requesterId, t.assigneeId, ...t.comments.map((c) => c.authorId)]) {
          add('agent', id);
          add('contact', id);
        }
        add('group', t.groupId);
        add('organization', t.organizationId);
      } else if (entity === 'contact') add('organization', (record as Contact).organizationId);
      else if (entity === 'agent') (record as Agent).groupIds.forEach((g) => add('group', g));
      else if (entity === 'kbSection') add('kbCategory', (record as KbSection).categoryId);
      else if (entity === 'kbArticle') {
        add('kbSection', (record as KbArticle).sectionId);
        add('agent', (record as KbArticle).authorId);
      }
    }
    for (const [e, ids] of refs) await this.ids.prefetch(e, ids);
  }

  async resolve<E extends EntityName>(entity: E, record: EntityTypes[E]): Promise<ResolveResult<E>> {
    const notes: string[] = [];
    switch (entity) {
      case 'agent': {
        const agent = record as Agent;
        const groups = await this.ids.targetIds('group', agent.groupIds);
        return { record: { ...agent, groupIds: agent.groupIds.flatMap((g) => groups.get(g) ?? []) } as EntityTypes[E], notes };
      }
      case 'contact': {
        const contact = record as Contact;
        const organizationId = await this.optional('organization', contact.organizationId, 'organizationId', notes);
        return { record: { ...contact, organizationId } as EntityTypes[E], notes };
      }
      case 'ticket':
        return { record: (await this.ticket(record as Ticket, notes)) as EntityTypes[E], notes };
      case 'kbSection': {
        const section = record as KbSection;
        const categoryId = await this.required('kbCategory', section.categoryId, 'kbSection', section.sourceId, 'categoryId');
        return { record: { ...section, categoryId } as EntityTypes[E], notes };
      }
      case 'kbArticle': {
        const article = record as KbArticle;
        const sectionId = await this.required('kbSection', article.sectionId, 'kbArticle', article.sourceId, 'sectionId');
        const authorId = await this.agent(article.authorId, 'authorId', notes);
        return { record: { ...article, sectionId, authorId } as EntityTypes[E], notes };
      }
      default:
        return { record, notes };
    }
  }

  private async ticket(ticket: Ticket, notes: string[]): Promise<Ticket> {
    const userIds = [ticket.requesterId, ticket.assigneeId, ...ticket.comments.map((c) => c.authorId)].filter((id): id is string => id !== null);
    const [agents, contacts] = await Promise.all([this.ids.targetIds('agent', userIds), this.ids.targetIds('contact', userIds)]);
    if (this.onMissing) {
      // A user the id map does not know may be new at the source: a contact, else an agent.
      for (const id of new Set(userIds)) {
        if (agents.has(id) || contacts.has(id)) continue;
        const contact = await this.onMissing('contact', id);
        if (contact) contacts.set(id, contact);
        else {
          const agent = await this.onMissing('agent', id);
          if (agent) agents.set(id, agent);
        }
      }
    }
    const user = async (id: string | null, field: string, allowDefault: boolean): Promise<string | null> => {
      if (id === null) return null;
      const found = agents.get(id) ?? contacts.get(id);
      if (found) return found;
      const fallback = allowDefault ? await this.defaultAgentTargetId() : null;
      if (fallback) this.onReassign?.(id);
      notes.push(`${field} ${id} is not a migrated user; ${fallback ? `assigned to the default agent` : 'left empty'}`);
      return fallback;
    };
    const requesterId = await user(ticket.requesterId, 'requesterId', false);
    if (ticket.requesterId !== null && requesterId === null) {
      throw new HdmError('UNRESOLVED_REFERENCE', `ticket ${ticket.sourceId}: requester ${ticket.requesterId} was not migrated (see that contact's own outcome)`, {
        context: { entity: 'ticket', recordId: ticket.sourceId, field: 'requesterId' },
      });
    }
    let assigneeId: string | null = null;
    if (ticket.assigneeId !== null) {
      assigneeId = agents.get(ticket.assigneeId) ?? (await this.defaultAgentTargetId());
      if (!agents.has(ticket.assigneeId)) {
        notes.push(`assignee ${ticket.assigneeId} is not a migrated agent; assigned to the default agent`);
        this.onReassign?.(ticket.assigneeId);
      }
    }
    const groupId = await this.optional('group', ticket.groupId, 'groupId', notes);
    const organizationId = await this.optional('organization', ticket.organizationId, 'organizationId', notes);
    const comments: Ticket['comments'] = [];
    for (const c of ticket.comments) comments.push({ ...c, authorId: await user(c.authorId, `comment ${c.sourceId} author`, true) });
    return { ...ticket, requesterId, assigneeId, groupId, organizationId, comments };
  }

  private async agent(id: string | null, field: string, notes: string[]): Promise<string | null> {
    if (id === null) return null;
    const found = (await this.ids.targetIds('agent', [id])).get(id);
    if (found) return found;
    notes.push(`${field} ${id} is not a migrated agent; assigned to the default agent`);
    this.onReassign?.(id);
    return this.defaultAgentTargetId();
  }

  private async optional(entity: EntityName, id: string | null, field: string, notes: string[]): Promise<string | null> {
    if (id === null) return null;
    const found = (await this.lookup(entity, [id])).get(id);
    if (!found) notes.push(`${field} ${id} was not migrated; left empty`);
    return found ?? null;
  }

  private async required(entity: EntityName, id: string, ofEntity: EntityName, recordId: string, field: string): Promise<string> {
    const found = (await this.lookup(entity, [id])).get(id);
    if (!found) {
      throw new HdmError('UNRESOLVED_REFERENCE', `${ofEntity} ${recordId}: ${field} ${id} (${entity}) was not migrated`, {
        context: { entity: ofEntity, recordId, field },
      });
    }
    return found;
  }
}
