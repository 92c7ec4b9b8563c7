import type { EntityName } from '../../schemas/canonical.ts';
import type { MemoryLedger } from '../../services/ledger/memory-ledger.ts';
import type { CheckpointData, CheckpointStore } from '../../services/poller/checkpoint-store.ts';
import type { MemorySource, MemoryTarget } from './memory-platform.ts';

/**
 * Checkpoints kept in memory that, at every save, check each saved stream state against the ledger
 * and the target: every ticket the state covers must have its outcome in the ledger, and a loaded one
 * must be on the target at the version read (or a newer one). What breaks that lands in `violations`.
 */
export class WatchedCheckpoints implements CheckpointStore {
  data: CheckpointData = { full: null };
  readonly saved: CheckpointData[] = [];
  readonly violations: string[] = [];

  constructor(private readonly world: { source: MemorySource; target: MemoryTarget; ledger: MemoryLedger }) {}

  async load(): Promise<CheckpointData> {
    return structuredClone(this.data);
  }

  async save(data: CheckpointData): Promise<void> {
    this.data = structuredClone(data);
    this.saved.push(this.data);
    const states = [
      ...Object.entries(data.full?.streams ?? {}).map(([entity, c]) => ['full', entity, c?.state ?? null] as const),
      ...Object.entries(data.delta?.streams ?? {}).map(([entity, state]) => ['delta', entity, state ?? null] as const),
    ];
    for (const [kind, entity, state] of states) {
      for (const envelope of this.world.source.coveredBy(entity as EntityName, state)) {
        const unsettled = this.unsettled(entity as EntityName, envelope.sourceId, envelope.updatedAt);
        if (unsettled) this.violations.push(`${kind} ${entity} state ${state?.cursor} saved while ${entity} ${envelope.sourceId} ${unsettled}`);
      }
    }
  }

  /** Why a record read at `updatedAt` is not yet loaded and recorded, or null when it is. */
  private unsettled(entity: EntityName, sourceId: string, updatedAt: string): string | null {
    const attempts = this.world.ledger.attempts(entity, sourceId);
    const latest = attempts.at(-1);
    if (!latest) return 'has no outcome in the ledger';
    if (latest.outcome !== 'loaded') return null;
    const onTarget = this.world.target.byStamp(entity, `${this.world.source.platform}:${sourceId}`) as { updatedAt?: string }[];
    if (!onTarget.some((r) => (r.updatedAt ?? '') >= updatedAt)) return `is not on the target at version ${updatedAt}`;
    return null;
  }

  /** The cursor of a stream's state as last saved, for the full run and for deltas. */
  cursor(kind: 'full' | 'delta', entity: EntityName): string | null {
    return (kind === 'full' ? this.data.full?.streams[entity]?.state?.cursor : this.data.delta?.streams[entity]?.cursor) ?? null;
  }
}
