import { redactor } from '../../schemas/redact.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import type {
  DeadLetter,
  EntitySummary,
  FailureAcceptance,
  FailureRow,
  IdMapEntry,
  LoadAttempt,
  Ledger,
  Outcome,
  RunInfo,
  RunProgress,
  SourceSeen,
  StoredVerification,
  TargetWrites,
  VerificationRow,
} from './ledger.ts';

interface StoredRun {
  run: RunInfo;
  version: number;
}

interface StoredSeen {
  runId: string;
  updatedAt: string;
  deleted: boolean;
}

interface StoredAttempt extends LoadAttempt {
  at: number;
}

/** Rows of every migration, as one ClickHouse database holds them: ledgers of several migrations may share one. */
export class MemoryLedgerDatabase {
  readonly runs = new Map<string, Map<string, StoredRun>>();
  readonly sourceRecords = new Map<string, Map<string, StoredSeen>>();
  readonly idMap = new Map<string, Map<string, IdMapEntry>>();
  readonly attempts = new Map<string, Map<string, StoredAttempt[]>>();
  readonly deadLetters = new Map<string, DeadLetter[]>();
  readonly verifications = new Map<string, (VerificationRow & { at: number })[]>();
  readonly acceptances = new Map<string, Map<string, FailureAcceptance>>();
}

const key = (entity: EntityName | string, sourceId: string) => `${entity}\u0000${sourceId}`;
const entityOf = (k: string) => k.slice(0, k.indexOf('\u0000'));
const sourceIdOf = (k: string) => k.slice(k.indexOf('\u0000') + 1);
const bySourceId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function table<V>(tables: Map<string, V>, migration: string, empty: () => V): V {
  let rows = tables.get(migration);
  if (!rows) {
    rows = empty();
    tables.set(migration, rows);
  }
  return rows;
}

/**
 * The ledger in this process's memory, with the ClickHouse ledger's behaviour (the shared ledger
 * suite runs against both): the newest row per record wins, a record's outcome is its latest
 * attempt. Nothing survives the process; it serves tests and throwaway runs that need no SQL.
 */
export class MemoryLedger implements Ledger {
  readonly migration: string;
  private readonly db: MemoryLedgerDatabase;
  /** Strictly increasing per ledger: two rows written in one millisecond still have an order. */
  private clock = 0;

  constructor(options: {
    /** Migration name; ledgers of other migrations on the same database never see its rows. */
    migration: string;
    /** Shared store. Default: one of its own. */
    database?: MemoryLedgerDatabase;
  }) {
    this.migration = options.migration;
    this.db = options.database ?? new MemoryLedgerDatabase();
  }

  private tick(): number {
    this.clock = Math.max(this.clock + 1, Date.now() * 1000);
    return this.clock;
  }

  private get runTable() {
    return table(this.db.runs, this.migration, () => new Map<string, StoredRun>());
  }
  private get seenTable() {
    return table(this.db.sourceRecords, this.migration, () => new Map<string, StoredSeen>());
  }
  private get idTable() {
    return table(this.db.idMap, this.migration, () => new Map<string, IdMapEntry>());
  }
  private get attemptTable() {
    return table(this.db.attempts, this.migration, () => new Map<string, StoredAttempt[]>());
  }

  async init(): Promise<void> {}

  async saveRun(run: RunInfo): Promise<void> {
    // As the ClickHouse table's version: a finished row outranks a running one written in the same millisecond.
    const version = Date.now() * 1000 + (run.finishedAt ? 1 : 0);
    const current = this.runTable.get(run.runId);
    if (current && current.version > version) return;
    const summary = JSON.parse(redactor.redact(JSON.stringify(run.summary))) as Record<string, unknown>;
    this.runTable.set(run.runId, { run: structuredClone({ ...run, summary }), version });
  }

  async runs(): Promise<RunInfo[]> {
    return [...this.runTable.values()].map((r) => structuredClone(r.run)).sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  }

  async run(runId: string): Promise<RunInfo | null> {
    return (await this.runs()).find((r) => r.runId === runId) ?? null;
  }

  async recordSourceSeen(runId: string, rows: SourceSeen[]): Promise<void> {
    for (const r of rows) this.seenTable.set(key(r.entity, r.sourceId), { runId, updatedAt: r.updatedAt, deleted: r.deleted });
  }

  async lookupIds(entity: EntityName, sourceIds: string[]): Promise<Map<string, IdMapEntry>> {
    const out = new Map<string, IdMapEntry>();
    for (const sourceId of sourceIds) {
      const entry = this.idTable.get(key(entity, sourceId));
      if (entry) out.set(sourceId, structuredClone(entry));
    }
    return out;
  }

  async putId(entry: IdMapEntry): Promise<void> {
    this.idTable.set(key(entry.entity, entry.sourceId), structuredClone({ ...entry, plannedChecksum: entry.plannedChecksum ?? '' }));
  }

  async recordAttempt(attempt: LoadAttempt): Promise<void> {
    const k = key(attempt.entity, attempt.sourceId);
    const row: StoredAttempt = {
      ...attempt,
      rule: attempt.rule === null ? null : redactor.redact(attempt.rule),
      errorMessage: attempt.errorMessage === null ? null : redactor.redact(attempt.errorMessage),
      durationMs: Math.max(0, Math.round(attempt.durationMs)),
      at: this.tick(),
    };
    const rows = this.attemptTable.get(k);
    if (rows) rows.push(row);
    else this.attemptTable.set(k, [row]);
  }

  async transformCounts(runId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const rows of this.attemptTable.values()) {
      for (const a of rows) if (a.runId === runId) for (const kind of a.transforms ?? []) out[kind] = (out[kind] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }

  async deadLetter(letter: DeadLetter): Promise<void> {
    table(this.db.deadLetters, this.migration, () => []).push({ ...letter, errorMessage: redactor.redact(letter.errorMessage), payload: redactor.redact(letter.payload) });
  }

  async recordVerifications(rows: VerificationRow[]): Promise<void> {
    const at = this.tick();
    table(this.db.verifications, this.migration, () => []).push(
      ...rows.map(({ checkedAt, ...r }) => ({ ...r, detail: redactor.redact(r.detail), at: checkedAt ? Date.parse(checkedAt) * 1000 : at })),
    );
  }

  /** Every load attempt of one record, oldest first: what a data team would read from `load_attempts`. */
  attempts(entity: EntityName, sourceId: string): LoadAttempt[] {
    return (this.attemptTable.get(key(entity, sourceId)) ?? []).map(({ at: _, ...attempt }) => structuredClone(attempt));
  }

  private sortedKeys<V>(rows: Map<string, V>, entity: EntityName): string[] {
    return [...rows.keys()].filter((k) => entityOf(k) === entity).sort((a, b) => bySourceId(sourceIdOf(a), sourceIdOf(b)));
  }

  async *idMap(entity: EntityName): AsyncIterable<IdMapEntry> {
    for (const k of this.sortedKeys(this.idTable, entity)) {
      const entry = this.idTable.get(k);
      if (entry && !entry.deleted && entry.targetId !== '') yield structuredClone(entry);
    }
  }

  async *createdBy(runId: string, entity: EntityName): AsyncIterable<IdMapEntry> {
    for await (const entry of this.idMap(entity)) {
      if (!entry.created) continue;
      const attempts = this.attemptTable.get(key(entity, entry.sourceId)) ?? [];
      if (attempts.some((a) => a.runId === runId && (a.action === 'created' || a.action === 'matched') && (a.targetId ?? '') === entry.targetId)) yield entry;
    }
  }

  async *sourceIds(entity: EntityName): AsyncIterable<string> {
    for (const k of this.sortedKeys(this.seenTable, entity)) {
      if (!this.seenTable.get(k)?.deleted) yield sourceIdOf(k);
    }
  }

  private latest(k: string, runId?: string): StoredAttempt | null {
    let found: StoredAttempt | null = null;
    for (const a of this.attemptTable.get(k) ?? []) if ((runId === undefined || a.runId === runId) && (!found || a.at >= found.at)) found = a;
    return found;
  }

  async *latestOutcomes(entity: EntityName): AsyncIterable<{ sourceId: string; outcome: Outcome; rule: string; errorCode: string; errorMessage: string }> {
    for (const k of this.sortedKeys(this.attemptTable, entity)) {
      const a = this.latest(k)!;
      yield { sourceId: sourceIdOf(k), outcome: a.outcome, rule: a.rule ?? '', errorCode: a.errorCode ?? '', errorMessage: a.errorMessage ?? '' };
    }
  }

  async summary(): Promise<Record<string, EntitySummary>> {
    const out: Record<string, EntitySummary> = {};
    for (const [k, seen] of this.seenTable) {
      const s = (out[entityOf(k)] ??= { source: 0, loaded: 0, filtered: 0, failed: 0, notAttempted: 0 });
      if (seen.deleted) continue;
      s.source += 1;
      const outcome = this.latest(k)?.outcome;
      if (outcome === undefined) s.notAttempted += 1;
      else if (outcome === 'loaded' || outcome === 'filtered' || outcome === 'failed') s[outcome] += 1;
    }
    return out;
  }

  async runProgress(runId: string, entity: EntityName): Promise<RunProgress> {
    const p: RunProgress = { seen: 0, settled: 0, loaded: 0, filtered: 0, failed: 0, created: 0, updated: 0, matched: 0, unchanged: 0 };
    for (const [k, seen] of this.seenTable) {
      if (entityOf(k) !== entity || seen.runId !== runId || seen.deleted) continue;
      p.seen += 1;
      const a = this.latest(k, runId);
      if (!a) continue;
      p.settled += 1;
      if (a.outcome === 'loaded' || a.outcome === 'filtered' || a.outcome === 'failed') p[a.outcome] += 1;
      if (a.outcome === 'loaded' && (a.action === 'created' || a.action === 'updated' || a.action === 'matched' || a.action === 'unchanged')) p[a.action] += 1;
    }
    return p;
  }

  async failures(limit: number): Promise<FailureRow[]> {
    const rows: (FailureRow & { at: number })[] = [];
    for (const [k, attempts] of this.attemptTable) {
      const a = this.latest(k)!;
      if (a.outcome !== 'failed') continue;
      rows.push({
        entity: a.entity,
        sourceId: a.sourceId,
        errorCode: a.errorCode ?? '',
        errorMessage: a.errorMessage ?? '',
        attempts: attempts.length,
        lastAttemptAt: new Date(Math.floor(a.at / 1000)).toISOString(),
        at: a.at,
      });
    }
    return rows.sort((x, y) => y.at - x.at).slice(0, limit).map(({ at: _, ...row }) => row);
  }

  async acceptFailures(rows: FailureAcceptance[]): Promise<void> {
    const stored = table(this.db.acceptances, this.migration, () => new Map<string, FailureAcceptance>());
    for (const r of rows) stored.set(key(r.entity, r.sourceId), { ...r, reason: redactor.redact(r.reason) });
  }

  async acceptances(): Promise<(FailureAcceptance & { failing: boolean })[]> {
    const stored = table(this.db.acceptances, this.migration, () => new Map<string, FailureAcceptance>());
    return [...stored.entries()]
      .filter(([, a]) => !a.withdrawn)
      .sort(([a], [b]) => bySourceId(a, b))
      .map(([k, a]) => ({ ...a, failing: this.latest(k)?.outcome === 'failed' }));
  }

  async targetWritesSince(since: string): Promise<TargetWrites> {
    const after = Date.parse(since) * 1000;
    const out: TargetWrites = { writes: 0, conflicts: 0, lastAt: null };
    let last = 0;
    for (const attempts of this.attemptTable.values()) {
      for (const a of attempts) {
        if (a.at <= after) continue;
        const wrote = a.outcome === 'loaded' && (a.action === 'created' || a.action === 'updated' || a.action === 'matched' || a.action === 'deleted');
        const conflict = (a.rule ?? '').startsWith('conflict:') || a.errorCode === 'CONFLICT';
        if (wrote) out.writes += 1;
        if (conflict) out.conflicts += 1;
        if ((wrote || conflict) && a.at > last) last = a.at;
      }
    }
    if (last) out.lastAt = new Date(Math.floor(last / 1000)).toISOString();
    return out;
  }

  async attemptedSince(since: string): Promise<{ entity: EntityName; sourceId: string }[]> {
    const after = Date.parse(since) * 1000;
    return [...this.attemptTable.entries()]
      .filter(([, attempts]) => attempts.some((a) => a.at > after))
      .map(([k]) => ({ entity: entityOf(k) as EntityName, sourceId: sourceIdOf(k) }))
      .sort((a, b) => bySourceId(a.entity, b.entity) || bySourceId(a.sourceId, b.sourceId));
  }

  async latestVerification(): Promise<StoredVerification | null> {
    const rows = table(this.db.verifications, this.migration, () => []);
    const last = new Map<string, number>();
    for (const r of rows) last.set(r.verifyId, Math.max(last.get(r.verifyId) ?? 0, r.at));
    const [verifyId, at] = [...last.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
    if (verifyId === undefined || at === undefined) return null;
    return {
      verifyId,
      checkedAt: new Date(Math.floor(at / 1000)).toISOString(),
      rows: rows.filter((r) => r.verifyId === verifyId).map(({ at: _, ...r }) => structuredClone(r)),
    };
  }

  /** Every write is stored when its promise resolves: nothing to flush. */
  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
