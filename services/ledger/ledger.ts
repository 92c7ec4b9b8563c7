import type { EntityName } from '../../schemas/canonical.ts';

export type RunKind = 'full' | 'delta' | 'demo' | 'undo' | 'verify' | 'repair';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface RunInfo {
  migration: string;
  runId: string;
  kind: RunKind;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  /** For a full run: the source-clock instant deltas start from. */
  cutoff: string | null;
  summary: Record<string, unknown>;
}

export interface IdMapEntry {
  entity: EntityName;
  sourceId: string;
  /** Empty while a create is in flight (an intent); set once the target answered. */
  targetId: string;
  runId: string;
  /** true when this migration created the target record (false: matched an existing one). */
  created: boolean;
  sourceUpdatedAt: string;
  /** Checksum of the planned projection last loaded, less what the target cannot preserve (what verification compares). */
  checksum: string;
  /**
   * Checksum of everything last written, fields the target cannot preserve included: a mapping change
   * that touches only such a field (e.g. priority on Freshdesk) still counts as a change. '' when unknown.
   */
  plannedChecksum?: string;
  /** Target IDs of children (ticket comments) by source ID. */
  children: Record<string, string>;
  deleted: boolean;
}

/** `undone`: deleted from the target by `hdm undo` (action `deleted`, rule `undo:<run>`). */
export type Outcome = 'loaded' | 'filtered' | 'failed' | 'undone';
export type LoadAction = 'created' | 'updated' | 'matched' | 'unchanged' | 'skipped' | 'deleted' | 'none';

export interface LoadAttempt {
  runId: string;
  entity: EntityName;
  sourceId: string;
  targetId: string | null;
  outcome: Outcome;
  action: LoadAction;
  /** For filtered records: the rule that filtered them. */
  rule: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  checksum: string | null;
  durationMs: number;
  /** The transformations the mapper applied to what this attempt wrote: one kind per note (`transforms.ts`). */
  transforms?: string[];
}

export interface SourceSeen {
  entity: EntityName;
  sourceId: string;
  updatedAt: string;
  deleted: boolean;
}

export interface DeadLetter {
  runId: string;
  stage: string;
  entity: EntityName;
  sourceId: string;
  errorCode: string;
  errorMessage: string;
  payload: string;
}

export interface EntitySummary {
  source: number;
  loaded: number;
  filtered: number;
  failed: number;
  notAttempted: number;
}

export interface VerificationRow {
  verifyId: string;
  entity: EntityName;
  sourceId: string;
  targetId: string;
  /** `accepted`: its latest load failed and an operator accepted that failure (see FailureAcceptance). */
  status: 'ok' | 'missing' | 'mismatched' | 'duplicate' | 'failed' | 'accepted' | 'filtered';
  expectedChecksum: string;
  actualChecksum: string;
  detail: string;
  /** When the check was made; default: when the row is written. */
  checkedAt?: string;
}

/** A verification as the ledger holds it: its rows and the instant of its latest check. */
export interface StoredVerification {
  verifyId: string;
  checkedAt: string;
  rows: VerificationRow[];
}

export interface FailureRow {
  entity: string;
  sourceId: string;
  errorCode: string;
  errorMessage: string;
  attempts: number;
  lastAttemptAt: string;
}

/** An operator's explicit acceptance that a record failed: it then no longer keeps the migration from being clean. */
export interface FailureAcceptance {
  entity: string;
  sourceId: string;
  /** Who accepted it (an API token's label, a CLI user). */
  acceptedBy: string;
  reason: string;
  acceptedAt: string;
  /** A withdrawn acceptance counts the failure as failed again. */
  withdrawn: boolean;
}

/** What was written to the target since an instant: the loads of the ledger, and the conflicts a delta saw. */
export interface TargetWrites {
  /** Loads that wrote to the target (created, updated, matched, deleted). */
  writes: number;
  /** Records a delta's conflict check found changed on the target. */
  conflicts: number;
  /** The latest of them, or null when none. */
  lastAt: string | null;
}

export interface RunProgress {
  seen: number;
  settled: number;
  loaded: number;
  filtered: number;
  failed: number;
  /** Of the loaded: what the load did on the target (a record's latest attempt in the run). */
  created: number;
  updated: number;
  matched: number;
  unchanged: number;
}

/**
 * The reconciliation ledger. Writes may be batched; each write's promise resolves once the row is
 * durably stored, which is what lets a cursor advance.
 */
export interface Ledger {
  readonly migration: string;
  init(): Promise<void>;
  saveRun(run: RunInfo): Promise<void>;
  runs(): Promise<RunInfo[]>;
  run(runId: string): Promise<RunInfo | null>;
  recordSourceSeen(runId: string, rows: SourceSeen[]): Promise<void>;
  lookupIds(entity: EntityName, sourceIds: string[]): Promise<Map<string, IdMapEntry>>;
  putId(entry: IdMapEntry): Promise<void>;
  recordAttempt(attempt: LoadAttempt): Promise<void>;
  deadLetter(letter: DeadLetter): Promise<void>;
  recordVerifications(rows: VerificationRow[]): Promise<void>;
  /** Every live id-map entry of an entity, streamed. */
  idMap(entity: EntityName): AsyncIterable<IdMapEntry>;
  /**
   * Live id-map entries of the records a run created on the target (never ones it only matched),
   * streamed: what `hdm undo <run>` removes.
   */
  createdBy(runId: string, entity: EntityName): AsyncIterable<IdMapEntry>;
  /** Source IDs seen (not deleted) for an entity, streamed. */
  sourceIds(entity: EntityName): AsyncIterable<string>;
  latestOutcomes(entity: EntityName): AsyncIterable<{ sourceId: string; outcome: Outcome; rule: string; errorCode: string; errorMessage: string }>;
  summary(): Promise<Record<string, EntitySummary>>;
  /**
   * How far the loaders are with what a run's poller read of one entity: records it saw (not deleted),
   * and of those, how many have an outcome in this run (latest: loaded, filtered or failed).
   */
  runProgress(runId: string, entity: EntityName): Promise<RunProgress>;
  failures(limit: number): Promise<FailureRow[]>;
  /** Records an acceptance (or its withdrawal); the latest row per record wins. */
  acceptFailures(rows: FailureAcceptance[]): Promise<void>;
  /** Acceptances in force (not withdrawn), each with whether its record's latest load still failed. */
  acceptances(): Promise<(FailureAcceptance & { failing: boolean })[]>;
  /** Writes to the target and conflicts seen after an instant (ISO): what makes a verification stale. */
  targetWritesSince(since: string): Promise<TargetWrites>;
  /** The records with a load attempt after `since` (written, refused, failed or seen in conflict), by entity. */
  attemptedSince(since: string): Promise<{ entity: EntityName; sourceId: string }[]>;
  /** The latest verification with its rows; null before any. */
  latestVerification(): Promise<StoredVerification | null>;
  /** How many of each transformation one run's loads applied (from its attempts), by kind. */
  transformCounts(runId: string): Promise<Record<string, number>>;
  flush(): Promise<void>;
  close(): Promise<void>;
}
