import type { EntityName } from '../../schemas/canonical.ts';
import type { IdMapEntry, Ledger } from '../ledger/ledger.ts';

/**
 * The id map as the loader reads it: a bounded LRU in front of the ledger. Writes go to both, so a
 * record loaded in this process is found without a query; a record loaded by an earlier process
 * is found in the ledger.
 */
export class IdMapCache {
  private readonly entries = new Map<string, IdMapEntry | null>();

  constructor(
    private readonly ledger: Ledger,
    /** Entries kept in memory. Default 200,000. */
    private readonly capacity = 200_000,
  ) {}

  private static key(entity: EntityName, sourceId: string): string {
    return `${entity}\u0000${sourceId}`;
  }

  private remember(key: string, entry: IdMapEntry | null): void {
    // Ticket entries carry every comment's ID; keep only their slim form in memory.
    const slim = entry && entry.entity === 'ticket' ? { ...entry, children: {} } : entry;
    this.entries.delete(key);
    this.entries.set(key, slim);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** The entry for one record, children included (always read from the ledger for tickets). */
  async get(entity: EntityName, sourceId: string): Promise<IdMapEntry | null> {
    const key = IdMapCache.key(entity, sourceId);
    if (entity !== 'ticket' && this.entries.has(key)) {
      const entry = this.entries.get(key)!;
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry;
    }
    const found = (await this.ledger.lookupIds(entity, [sourceId])).get(sourceId) ?? null;
    this.remember(key, found);
    return found;
  }

  /** Target IDs for many records of one entity (only what is cached or in the ledger). */
  async targetIds(entity: EntityName, sourceIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(sourceIds)) {
      const key = IdMapCache.key(entity, id);
      if (this.entries.has(key)) {
        const entry = this.entries.get(key);
        if (entry && !entry.deleted) out.set(id, entry.targetId);
      } else missing.push(id);
    }
    if (missing.length > 0) {
      const found = await this.ledger.lookupIds(entity, missing);
      for (const id of missing) {
        const entry = found.get(id) ?? null;
        this.remember(IdMapCache.key(entity, id), entry);
        if (entry && !entry.deleted) out.set(id, entry.targetId);
      }
    }
    return out;
  }

  /** Records a load; resolves once the ledger holds it. */
  put(entry: IdMapEntry): Promise<void> {
    this.remember(IdMapCache.key(entry.entity, entry.sourceId), entry);
    return this.ledger.putId(entry);
  }

  /** Forgets what this process knows, e.g. after another process may have written. */
  clear(): void {
    this.entries.clear();
  }
}
