import type { EntityName } from '../../schemas/canonical.ts';
import type { IdMapEntry, Ledger } from '../ledger/ledger.ts';

interface Cached {
  entry: IdMapEntry | null;
  /** Written by this process: newer than anything a query can return (the ledger may lag a put). */
  authoritative: boolean;
  /** When a query found nothing (ms since the epoch); null for an entry. */
  missedAt: number | null;
}

export interface IdMapCacheOptions {
  /** Reference entries kept in memory. Default 200,000. */
  refCapacity?: number;
  /**
   * Ticket entries (with comment IDs) kept in memory. Default 4,000: several times the tickets in
   * flight on the bus. A ticket entry holds a string pair per comment, so this cache, not the
   * reference one, decides how the loader's memory grows with the size of a migration.
   */
  ticketCapacity?: number;
  /**
   * How long a miss read from the ledger is believed, in ms. Default: for ever, right when this process
   * is the id map's only writer. Where other processes load into the same ledger (cluster loaders), a
   * record missing a moment ago may have been loaded since.
   */
  missTtlMs?: number;
}

/** A Map that forgets its oldest keys past a capacity. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  peek(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

/**
 * The id map as the loader reads it: bounded caches in front of the ledger. Writes go to both, so a
 * record loaded in this process is found without a query, and a query that raced a write never
 * replaces what the write put here.
 */
export class IdMapCache {
  /** References (groups, agents, contacts…): small entries, many lookups. */
  private readonly refs: Lru<Cached>;
  /** Tickets with their children, as recently written or fetched ahead for loading. */
  private readonly tickets: Lru<Cached>;

  private readonly missTtlMs: number;

  constructor(
    private readonly ledger: Ledger,
    options: IdMapCacheOptions = {},
  ) {
    this.refs = new Lru(options.refCapacity ?? 200_000);
    this.tickets = new Lru(options.ticketCapacity ?? 4_000);
    this.missTtlMs = options.missTtlMs ?? Infinity;
  }

  private static key(entity: EntityName, sourceId: string): string {
    return `${entity}\u0000${sourceId}`;
  }

  private cache(entity: EntityName): Lru<Cached> {
    return entity === 'ticket' ? this.tickets : this.refs;
  }

  /** Stores a query result unless this process wrote the record meanwhile. */
  private fromQuery(entity: EntityName, key: string, entry: IdMapEntry | null): IdMapEntry | null {
    const cache = this.cache(entity);
    const current = cache.peek(key);
    if (current?.authoritative) return current.entry;
    cache.set(key, { entry, authoritative: false, missedAt: entry ? null : Date.now() });
    return entry;
  }

  /** What memory knows of a record, or undefined when the ledger must be asked (unknown, or a miss too old to believe). */
  private known(entity: EntityName, key: string, recheckMisses: boolean, touch = true): Cached | undefined {
    const cache = this.cache(entity);
    const cached = touch ? cache.get(key) : cache.peek(key);
    if (cached?.missedAt != null && (recheckMisses || Date.now() - cached.missedAt >= this.missTtlMs)) return undefined;
    return cached;
  }

  /** Reads the entries of many records in one query: one query per page instead of one per record. */
  async prefetch(entity: EntityName, sourceIds: string[]): Promise<void> {
    const wanted = [...new Set(sourceIds)].filter((id) => this.known(entity, IdMapCache.key(entity, id), false, false) === undefined);
    for (let i = 0; i < wanted.length; i += 1000) {
      const chunk = wanted.slice(i, i + 1000);
      const found = await this.ledger.lookupIds(entity, chunk);
      for (const id of chunk) this.fromQuery(entity, IdMapCache.key(entity, id), found.get(id) ?? null);
    }
  }

  /** The entry for one record, children included. */
  async get(entity: EntityName, sourceId: string): Promise<IdMapEntry | null> {
    const key = IdMapCache.key(entity, sourceId);
    const cached = this.known(entity, key, false);
    if (cached) return cached.entry;
    const found = (await this.ledger.lookupIds(entity, [sourceId])).get(sourceId) ?? null;
    return this.fromQuery(entity, key, found);
  }

  /**
   * Target IDs for many records of one entity (what is cached or in the ledger). `recheckMisses` asks
   * the ledger again for what memory holds as missing.
   */
  async targetIds(entity: EntityName, sourceIds: string[], options: { recheckMisses?: boolean } = {}): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(sourceIds)) {
      const cached = this.known(entity, IdMapCache.key(entity, id), options.recheckMisses ?? false);
      if (cached === undefined) missing.push(id);
      else if (cached.entry && !cached.entry.deleted && cached.entry.targetId !== '') out.set(id, cached.entry.targetId);
    }
    if (missing.length > 0) {
      const found = await this.ledger.lookupIds(entity, missing);
      for (const id of missing) {
        const entry = this.fromQuery(entity, IdMapCache.key(entity, id), found.get(id) ?? null);
        if (entry && !entry.deleted && entry.targetId !== '') out.set(id, entry.targetId);
      }
    }
    return out;
  }

  /** Records a load; resolves once the ledger holds it. */
  put(entry: IdMapEntry): Promise<void> {
    this.cache(entry.entity).set(IdMapCache.key(entry.entity, entry.sourceId), { entry, authoritative: true, missedAt: null });
    return this.ledger.putId(entry);
  }

  /** Forgets what this process knows, e.g. after another process may have written. */
  clear(): void {
    this.refs.clear();
    this.tickets.clear();
  }
}
