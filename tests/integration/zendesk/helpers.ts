import { zendesk, type ZendeskConnector, type ZendeskConnectorConfig, type ZendeskSandbox, type ZendeskSandboxOptions } from '../../../connectors/zendesk/index.ts';
import type { Page, StreamState, WriteContext } from '../../../connectors/sdk/contract.ts';
import { LOAD_ORDER, type Agent, type EntityName, type EntityTypes, type Envelope, type Ticket } from '../../../schemas/canonical.ts';
import { project } from '../../../schemas/projection.ts';
import { unpreservedFields } from '../../../services/loader/loader.ts';
import { type FaithfulOptions, sandboxOptions } from '../../helpers/sandbox-options.ts';

/** A Zendesk sandbox with the documented defaults (Enterprise limits, last minute left out of exports) unless the test opts out with its reason. */
export async function sandbox(options: FaithfulOptions<ZendeskSandboxOptions> = {}): Promise<ZendeskSandbox> {
  return zendesk.startSandbox(sandboxOptions<ZendeskSandboxOptions>(options));
}

export function connect(sb: ZendeskSandbox, extra: Partial<ZendeskConnectorConfig> = {}): ZendeskConnector {
  return zendesk.createConnector({ url: sb.url, credentials: sb.credentials, concurrency: 8, ...extra });
}

export interface ReadResult<E extends EntityName> {
  upserts: Map<string, EntityTypes[E]>;
  envelopes: Envelope<E>[];
  pages: Page<E>[];
  state: StreamState | null;
}

/** Reads a whole stream, keeping every page. */
export async function readAll<E extends EntityName>(c: ZendeskConnector, entity: E, state: StreamState | null = null, overlapSeconds?: number): Promise<ReadResult<E>> {
  const upserts = new Map<string, EntityTypes[E]>();
  const envelopes: Envelope<E>[] = [];
  const pages: Page<E>[] = [];
  let last = state;
  for await (const page of c.read(entity, state, overlapSeconds === undefined ? undefined : { overlapSeconds })) {
    pages.push(page);
    for (const e of page.records) {
      envelopes.push(e);
      if (e.op === 'upsert') upserts.set(e.sourceId, e.record as EntityTypes[E]);
    }
    last = page.state;
  }
  return { upserts, envelopes, pages, state: last };
}

/** Source → target ID maps, per entity, as the loader's id map would hold them. */
export type IdMaps = { [E in EntityName]: Map<string, string> };

export function emptyMaps(): IdMaps {
  return Object.fromEntries(LOAD_ORDER.map((e) => [e, new Map<string, string>()])) as IdMaps;
}

/** A source record with every reference translated to target IDs (what the loader hands a writer). */
export function resolve<E extends EntityName>(entity: E, record: EntityTypes[E], ids: IdMaps, defaultAgent: string): EntityTypes[E] {
  const user = (id: string | null, allowDefault: boolean) => (id === null ? null : (ids.agent.get(id) ?? ids.contact.get(id) ?? (allowDefault ? defaultAgent : null)));
  const opt = (map: Map<string, string>, id: string | null) => (id === null ? null : (map.get(id) ?? null));
  switch (entity) {
    case 'agent': {
      const a = record as Agent;
      return { ...a, groupIds: a.groupIds.flatMap((g) => ids.group.get(g) ?? []) } as EntityTypes[E];
    }
    case 'contact':
      return { ...record, organizationId: opt(ids.organization, (record as EntityTypes['contact']).organizationId) } as EntityTypes[E];
    case 'ticket': {
      const t = record as Ticket;
      return {
        ...t,
        requesterId: user(t.requesterId, false),
        assigneeId: t.assigneeId === null ? null : (ids.agent.get(t.assigneeId) ?? defaultAgent),
        groupId: opt(ids.group, t.groupId),
        organizationId: opt(ids.organization, t.organizationId),
        comments: t.comments.map((c) => ({ ...c, authorId: user(c.authorId, true) })),
      } as EntityTypes[E];
    }
    case 'kbSection':
      return { ...record, categoryId: ids.kbCategory.get((record as EntityTypes['kbSection']).categoryId)! } as EntityTypes[E];
    case 'kbArticle': {
      const a = record as EntityTypes['kbArticle'];
      return { ...a, sectionId: ids.kbSection.get(a.sectionId)!, authorId: user(a.authorId, true) } as EntityTypes[E];
    }
    default:
      return record;
  }
}

export function context(source: ZendeskConnector, sourceId: string, knownChildren: Record<string, string> = {}): WriteContext {
  return { stamp: `zendesk:${sourceId}`, knownChildren, openAttachment: (a) => source.openAttachment(a) };
}

export interface Migration {
  ids: IdMaps;
  children: Map<string, Record<string, string>>;
  defaultAgent: string;
  source: Map<EntityName, Map<string, EntityTypes[EntityName]>>;
}

/** A minimal loader: every entity in load order, inactive and deleted agents folded into the default agent. */
export async function migrate(source: ZendeskConnector, target: ZendeskConnector): Promise<Migration> {
  const ids = emptyMaps();
  const children = new Map<string, Record<string, string>>();
  const read = new Map<EntityName, Map<string, EntityTypes[EntityName]>>();
  const fields = await readAll(source, 'ticketField');
  await target.prepare({ ticketFields: [...fields.upserts.values()] });
  let defaultAgent = '';
  for (const entity of LOAD_ORDER) {
    const { upserts } = await readAll(source, entity);
    read.set(entity, upserts as Map<string, EntityTypes[EntityName]>);
    for (const [sourceId, record] of upserts) {
      if (entity === 'agent' && (!(record as Agent).active || (record as Agent).deleted)) continue;
      const resolved = resolve(entity, record, ids, defaultAgent);
      // As the loader does on an id-map miss: ask the target first (prepare() made the ticket fields).
      const found = await target.find(entity, resolved, `zendesk:${sourceId}`);
      const ref = found
        ? await target.update(entity, found.targetId, resolved, context(source, sourceId))
        : await target.create(entity, resolved, context(source, sourceId));
      ids[entity].set(sourceId, ref.targetId);
      if (ref.children) children.set(sourceId, ref.children);
      if (entity === 'agent' && !defaultAgent && (record as Agent).role === 'admin') defaultAgent = ref.targetId;
    }
  }
  return { ids, children, defaultAgent, source: read };
}

/** The projection the verifier compares, less what the target declares it cannot keep. */
export function projection<E extends EntityName>(c: ZendeskConnector, entity: E, record: EntityTypes[E]) {
  return project(entity, record, unpreservedFields(c.limitations, entity));
}
