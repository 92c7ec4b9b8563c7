import type { Connector } from '../../connectors/sdk/contract.ts';
import { DirectoryAttachmentStore } from './attachment-store.ts';
import { toHdmError } from '../../schemas/errors.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import type { EntityName, EntityTypes, TicketField } from '../../schemas/canonical.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { mapRecord } from '../mapper/record.mapping.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { targetFieldDefinitions } from '../mapper/wizard.mapping.ts';
import { pickDefaultAgent, type DefaultAgent } from './default-agent.ts';
import { IdMapCache } from './id-map-cache.ts';
import { Loader, type ConflictPolicy, type LoadResult, type PlannedRecord } from './loader.ts';
import { ReferenceResolver } from './reference-resolver.ts';

/** What a run's loader is built from. */
export interface RunLoaderDeps {
  source: Connector;
  target: Connector;
  ledger: Ledger;
  /** Entities the run moves: a reference to another entity is never loaded on the fly. */
  entities: readonly EntityName[];
  rules: MappingRules;
  /** Email of the default agent on the target, if the user named one. */
  defaultAgentEmail: string | null;
  /** What a delta does when the target's copy was edited since our last load. Default `source-wins`. */
  conflictPolicy?: ConflictPolicy;
  events?: {
    /** A source user whose reference (assignee, author) went to the default agent. */
    reassigned?(userSourceId: string): void;
  };
}

/** The loader of one run with what it needs: references resolved through the id map, late ones loaded on the fly. */
export interface RunLoader {
  loader: Loader;
  defaultAgent: DefaultAgent;
  /** Looks up, in one go, the target IDs a page of records refers to. */
  prefetch(entity: EntityName, records: EntityTypes[EntityName][]): Promise<void>;
}

export async function createRunLoader(
  deps: RunLoaderDeps,
  runId: string,
  options: {
    detectConflicts: boolean;
    preparedFields: ReadonlySet<string>;
    ids?: IdMapCache;
    /**
     * Loads a record met only as a reference elsewhere, returning its target ID (null when it did not
     * load). Default: this loader loads it. Cluster loaders hand it to the loader that owns its partition,
     * so that two processes meeting the same new record cannot both create it.
     */
    handOff?: (planned: PlannedRecord) => Promise<string | null>;
    /** Told of each record this loader loaded on the fly (not handed off), for the run's counts. */
    onLoadedOnTheFly?: (entity: EntityName, result: LoadResult) => void;
    /** Pick the default agent only when a reference first needs it (delta passes). Default false. */
    lazyDefaultAgent?: boolean;
    /** The default agent an earlier run chose, and where to keep the one this run chooses (see pickDefaultAgent). */
    defaultAgentChoice?: { chosen?: string | null; onChosen?(sourceId: string | null): void | Promise<void> };
  },
): Promise<RunLoader> {
  const { source, target, ledger, events } = deps;
  const ids = options.ids ?? new IdMapCache(ledger);
  const defaultAgent = await pickDefaultAgent(deps, ids, { lazy: options.lazyDefaultAgent, ...options.defaultAgentChoice });
  // References to records created at the source after their own stream was read are loaded on the
  // fly; each is tried once per run.
  const onTheFly = new Map<string, Promise<string | null>>();
  const loadMissing = (entity: EntityName, sourceId: string): Promise<string | null> => {
    const key = `${entity}:${sourceId}`;
    let pending = onTheFly.get(key);
    if (!pending) {
      pending = (async () => {
        if (!deps.entities.includes(entity)) return null;
        const record = await getOrNull(source, entity, sourceId);
        if (!record) return null;
        const mapped = mapRecord(entity, record, deps.rules);
        if (mapped.kind === 'filtered') return null;
        const planned: PlannedRecord = { entity, sourceId, updatedAt: record.updatedAt, record: mapped.record, notes: [...mapped.notes, 'loaded on the fly'] };
        if (options.handOff) return options.handOff(planned);
        const result = await loader.load(planned);
        options.onLoadedOnTheFly?.(entity, result);
        return result.outcome === 'loaded' ? result.targetId : null;
      })();
      onTheFly.set(key, pending);
      // A failure is not remembered: the next record naming it tries again.
      pending.catch(() => onTheFly.delete(key));
    }
    return pending;
  };
  const resolver = new ReferenceResolver(ids, () => defaultAgent.current(), loadMissing, (id) => events?.reassigned?.(id));
  const loader = new Loader({
    runId,
    target,
    source,
    ledger,
    ids,
    resolver,
    detectConflicts: options.detectConflicts,
    conflictPolicy: deps.conflictPolicy,
    createdByRun: (entity, targetId) => entity === 'ticketField' && options.preparedFields.has(targetId),
    attachmentStore: deps.rules.attachmentLinks ? new DirectoryAttachmentStore(deps.rules.attachmentLinks) : undefined,
  });
  return {
    loader,
    defaultAgent,
    prefetch: (entity, records) => resolver.prefetch(entity, records),
  };
}

/**
 * A source record by ID, null only when the source has none. Transient failures were already retried by
 * the source connector's HTTP retry policy; one that persists fails the load naming the record, rather
 * than passing for a record that does not exist (which would load the referring record without its reference).
 */
async function getOrNull<E extends EntityName>(source: Connector, entity: E, sourceId: string): Promise<EntityTypes[E] | null> {
  try {
    return await source.get(entity, sourceId);
  } catch (err) {
    const error = toHdmError(err, 'INTERNAL', { entity, recordId: sourceId });
    if (error.code === 'NOT_FOUND') return null;
    throw error;
  }
}

/**
 * Creates on the target the custom fields the source's tickets need, before any ticket is written.
 * Returns the IDs of the fields it created: they count as this run's creations (undo removes them),
 * though the ticketField stream then finds them on the target rather than creating them.
 */
export async function prepareTarget(deps: Pick<RunLoaderDeps, 'source' | 'target' | 'entities' | 'rules'>): Promise<string[]> {
  const { source, target } = deps;
  if (!target.prepare) return [];
  const sourceFields = deps.entities.includes('ticketField') || deps.entities.includes('ticket') ? await readAll(source, 'ticketField') : [];
  const prepared = await target.prepare({
    ticketFields: targetFieldDefinitions(
      sourceFields.flatMap((e) => (e.op === 'upsert' ? [e.record as TicketField] : [])),
      deps.rules,
    ),
  });
  return prepared.createdFields;
}
