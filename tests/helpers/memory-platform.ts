import type {
  Connector,
  Page,
  StampedRecord,
  StreamDescriptor,
  StreamState,
  TargetCapabilities,
  TargetRef,
  WriteContext,
} from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { ENTITIES, TICKET_PRIORITIES, TICKET_STATUSES, TICKET_TYPES, type Comment, type EntityName, type EntityTypes, type Envelope, type Ticket } from '../../schemas/canonical.ts';
import type { MappingRules } from '../../services/mapper/rules.ts';

/**
 * Small in-memory platforms for unit tests of the engine: a target that keeps what it is sent and
 * stamps it, and a source that serves fixed pages with the states that cover them. They stand in for
 * a platform, never for the loader, pipeline or ledger under test.
 */

const unsupported = (what: string) => () => {
  throw new HdmError('INTERNAL', `the in-memory test platform does not ${what}`);
};

abstract class MemoryPlatform implements Connector {
  abstract readonly platform: string;
  readonly limitations = [];
  readonly capabilities: TargetCapabilities = {
    ticketStatuses: TICKET_STATUSES,
    ticketPriorities: TICKET_PRIORITIES,
    ticketTypes: TICKET_TYPES,
    entities: ENTITIES,
    writeVisibleWithinMs: 0,
  };
  readonly rateLimit = { requestsPerMinute: 0, pageSize: 100 };
  async check(): Promise<void> {}
  streams(): StreamDescriptor[] {
    return [];
  }
  async *read<E extends EntityName>(_entity: E, _state: StreamState | null): AsyncIterable<Page<E>> {}
  async get<E extends EntityName>(_entity: E, _id: string): Promise<EntityTypes[E] | null> {
    return null;
  }
  openAttachment = unsupported('serve attachments');
  find = unsupported('find records') as Connector['find'];
  create = unsupported('create records') as Connector['create'];
  update = unsupported('update records') as Connector['update'];
  delete = unsupported('delete records') as Connector['delete'];
  recordUrl(entity: EntityName, id: string): string {
    return `memory://${this.platform}/${entity}/${id}`;
  }
  async close(): Promise<void> {}
}

interface Stored {
  stamp: string;
  record: EntityTypes[EntityName];
}

type WriteHook = (op: 'create' | 'update', entity: EntityName, record: EntityTypes[EntityName], targetId: string | null) => void | Promise<void>;

/** A target platform in memory: records by target ID, each with the stamp of its source record. */
export class MemoryTarget extends MemoryPlatform {
  readonly platform = 'memory-target';
  private nextId = 1;
  private readonly store = new Map<EntityName, Map<string, Stored>>();
  /** Before a write is carried out: a throw is a write the platform refused; a wait is a slow request. */
  beforeWrite: WriteHook | null = null;
  /** After a write was carried out, before its answer: a throw here is an answer lost on the way back. */
  afterWrite: WriteHook | null = null;
  /**
   * After each comment an update appended, before the next: a throw here is one comment request whose
   * answer was lost, the comments before it staying on the target (as with one request per note).
   */
  afterComment: ((targetId: string, commentSourceId: string) => void) | null = null;
  readonly calls: { op: 'create' | 'update'; entity: EntityName; sourceId: string }[] = [];

  private table(entity: EntityName): Map<string, Stored> {
    let t = this.store.get(entity);
    if (!t) this.store.set(entity, (t = new Map()));
    return t;
  }

  /** Every record of an entity on the target, by target ID. */
  all<E extends EntityName>(entity: E): Map<string, EntityTypes[E] & { stamp: string }> {
    return new Map([...this.table(entity)].map(([id, s]) => [id, { ...structuredClone(s.record as EntityTypes[E]), stamp: s.stamp }]));
  }

  /** Target records whose stamp names this source record. */
  byStamp<E extends EntityName>(entity: E, stamp: string): (EntityTypes[E] & { targetId: string })[] {
    return [...this.table(entity)].filter(([, s]) => s.stamp === stamp).map(([targetId, s]) => ({ ...structuredClone(s.record as EntityTypes[E]), targetId }));
  }

  /** Everything on the target, read back as verification reads a target: one page, each record with its stamp. */
  override async *read<E extends EntityName>(entity: E, _state: StreamState | null): AsyncIterable<Page<E>> {
    const records = [...this.table(entity)].map(([targetId, s]) => ({
      entity,
      op: 'upsert' as const,
      sourceId: targetId,
      updatedAt: (s.record as { updatedAt?: string }).updatedAt ?? '',
      record: structuredClone(s.record as EntityTypes[E]),
      stamp: s.stamp,
    }));
    yield { records, state: { cursor: 'end', coveredUntil: null } } as Page<E>;
  }

  /** Changes a record on the target behind the migration's back (an agent's edit, a note the platform dropped). */
  edit<E extends EntityName>(entity: E, targetId: string, change: (record: EntityTypes[E]) => void): void {
    const stored = this.table(entity).get(targetId);
    if (!stored) throw new Error(`${entity} ${targetId} is not on the memory target`);
    change(stored.record as EntityTypes[E]);
  }

  /** A record put there by someone else (an earlier migration, an agent), with the stamp it carries. */
  seed<E extends EntityName>(entity: E, record: EntityTypes[E], stamp: string): string {
    const targetId = String(this.nextId++);
    this.table(entity).set(targetId, { stamp, record: this.withTargetComments(entity, record, {}).record });
    return targetId;
  }

  private withTargetComments<E extends EntityName>(entity: E, record: EntityTypes[E], known: Record<string, string>, existing: Comment[] = []): { record: EntityTypes[E]; children: Record<string, string> } {
    if (entity !== 'ticket') return { record: structuredClone(record), children: {} };
    const ticket = record as Ticket;
    const children = { ...known };
    const comments = [...existing];
    for (const c of ticket.comments) {
      if (c.sourceId in known) continue;
      const id = `c${this.nextId++}`;
      comments.push({ ...structuredClone(c), sourceId: id });
      children[c.sourceId] = id;
    }
    return { record: { ...structuredClone(ticket), comments } as EntityTypes[E], children };
  }

  override find = (async <E extends EntityName>(entity: E, _record: EntityTypes[E], stamp: string): Promise<TargetRef | null> => {
    for (const [targetId, s] of this.table(entity)) if (s.stamp === stamp) return { targetId };
    return null;
  }) as Connector['find'];

  override create = (async <E extends EntityName>(entity: E, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> => {
    this.calls.push({ op: 'create', entity, sourceId: record.sourceId });
    await this.beforeWrite?.('create', entity, record, null);
    const targetId = String(this.nextId++);
    const written = this.withTargetComments(entity, record, {});
    this.table(entity).set(targetId, { stamp: context.stamp, record: written.record });
    await this.afterWrite?.('create', entity, record, targetId);
    return { targetId, children: written.children };
  }) as Connector['create'];

  override update = (async <E extends EntityName>(entity: E, targetId: string, record: EntityTypes[E], context: WriteContext): Promise<TargetRef> => {
    this.calls.push({ op: 'update', entity, sourceId: record.sourceId });
    await this.beforeWrite?.('update', entity, record, targetId);
    const stored = this.table(entity).get(targetId);
    if (!stored) throw new HdmError('NOT_FOUND', `${entity} ${targetId} is not on the target`, { context: { entity, recordId: targetId } });
    // As the contract says: fields replaced, only comments not already there appended.
    const existing = entity === 'ticket' ? (stored.record as Ticket).comments : [];
    const written = this.withTargetComments(entity, record, context.knownChildren, existing);
    if (this.afterComment && entity === 'ticket') {
      const all = (written.record as Ticket).comments;
      stored.record = { ...written.record, comments: all.slice(0, existing.length) } as EntityTypes[E];
      for (const [sourceId, id] of Object.entries(written.children)) {
        if (sourceId in context.knownChildren) continue;
        (stored.record as Ticket).comments.push(all.find((c) => c.sourceId === id)!);
        this.afterComment(targetId, sourceId);
      }
    } else stored.record = written.record;
    await this.afterWrite?.('update', entity, record, targetId);
    return { targetId, children: written.children };
  }) as Connector['update'];

  override delete = (async (entity: EntityName, targetId: string): Promise<void> => {
    if (!this.table(entity).delete(targetId)) throw new HdmError('NOT_FOUND', `${entity} ${targetId} is not on the target`);
  }) as Connector['delete'];

  override async get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    const stored = this.table(entity).get(id);
    return stored ? structuredClone(stored.record as EntityTypes[E]) : null;
  }

  async *stampedTickets(prefix: string): AsyncIterable<StampedRecord[]> {
    const all = [...this.table('ticket')].filter(([, s]) => s.stamp.startsWith(prefix)).map(([targetId, s]) => ({ stamp: s.stamp, targetId }));
    for (let i = 0; i < all.length; i += 2) yield all.slice(i, i + 2);
  }
}

/** A source platform in memory: fixed pages per stream, each with the state that covers it. */
export class MemorySource extends MemoryPlatform {
  readonly platform = 'memsrc';
  /** Pages per entity, in cursor order; a test may append pages between runs (changes at the source). */
  readonly pages: Partial<Record<EntityName, Page[]>> = {};

  /** Reads from the page after the one `state` covers (from the first when null). */
  override async *read<E extends EntityName>(entity: E, state: StreamState | null): AsyncIterable<Page<E>> {
    const pages = (this.pages[entity] ?? []) as Page<E>[];
    const from = state ? pages.findIndex((p) => p.state.cursor === state.cursor) + 1 : 0;
    for (const page of pages.slice(from)) yield structuredClone(page);
  }

  override async get<E extends EntityName>(entity: E, id: string): Promise<EntityTypes[E] | null> {
    let found: EntityTypes[E] | null = null;
    for (const page of this.pages[entity] ?? []) for (const e of page.records) if (e.sourceId === id && e.op === 'upsert') found = e.record as EntityTypes[E];
    return found;
  }

  /** The records a saved state covers: those of its page and every page before it. */
  coveredBy(entity: EntityName, state: StreamState | null): Envelope[] {
    if (!state) return [];
    const pages = this.pages[entity] ?? [];
    const at = pages.findIndex((p) => p.state.cursor === state.cursor);
    if (at < 0) throw new Error(`state ${state.cursor} is no page of ${entity}`);
    return pages.slice(0, at + 1).flatMap((p) => p.records);
  }
}

/** A ticket at the source, with comments given as [sourceId, body]. */
export function sourceTicket(sourceId: string, updatedAt: string, options: { subject?: string; comments?: [string, string][] } = {}): Ticket {
  return {
    sourceId,
    subject: options.subject ?? `Ticket ${sourceId}`,
    status: 'open',
    priority: 'normal',
    type: 'question',
    requesterId: null,
    assigneeId: null,
    groupId: null,
    organizationId: null,
    tags: [],
    customFields: {},
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt,
    comments: (options.comments ?? [[`${sourceId}-1`, `Help with ${sourceId}`]]).map(([id, body]) => ({
      sourceId: id,
      authorId: null,
      body,
      public: true,
      createdAt: '2026-01-01T00:00:00Z',
      attachments: [],
    })),
  };
}

/** A page of tickets whose state is `cursor`. */
export function ticketPage(cursor: string, tickets: Ticket[]): Page<'ticket'> {
  return {
    records: tickets.map((record) => ({ entity: 'ticket', op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record })) as Envelope<'ticket'>[],
    state: { cursor, coveredUntil: tickets.at(-1)?.updatedAt ?? null },
  };
}

/** Mapping rules that change nothing. */
export function plainRules(target: Connector): MappingRules {
  return { capabilities: target.capabilities, skipAttachments: false, statusMap: {}, priorityMap: {}, typeMap: {} };
}
