import { recordStamp, type AttachmentStore, type Connector, type Limitation, type SourceConnector, type TargetRef, type WriteContext } from '../../connectors/sdk/contract.ts';
import { HdmError, toHdmError } from '../../schemas/errors.ts';
import type { Comment, EntityName, EntityTypes, Ticket } from '../../schemas/canonical.ts';
import { checksum, htmlText, project } from '../../schemas/projection.ts';
import type { IdMapEntry, LoadAction, LoadAttempt, Ledger } from '../ledger/ledger.ts';
import { transformKinds } from '../mapper/transforms.ts';
import type { IdMapCache } from './id-map-cache.ts';
import { isEmpty } from './id-map-recovery.ts';
import type { ReferenceResolver } from './reference-resolver.ts';

/** A record the mapper planned, in source-ID space. */
export interface PlannedRecord<E extends EntityName = EntityName> {
  entity: E;
  sourceId: string;
  updatedAt: string;
  record: EntityTypes[E];
  notes: string[];
}

export type LoadResult =
  /** `retry`: the record's latest load before this run had failed; this load takes it up again. */
  | {
      outcome: 'loaded';
      action: LoadAction;
      targetId: string;
      notes: string[];
      rule: string | null;
      retry?: boolean;
      /** When the run before this one (full or delta) began reading (ms): a change older than that was not visible to it. */
      previousReadAt?: number | null;
    }
  | { outcome: 'failed'; error: HdmError };

/**
 * What to do when the target's copy changed since our last load (someone works in the target):
 * overwrite it with the source's version, keep the target's, or keep it and report a failure.
 */
export type ConflictPolicy = 'source-wins' | 'skip' | 'report';

export interface LoaderOptions {
  runId: string;
  target: Connector;
  source: SourceConnector;
  ledger: Ledger;
  ids: IdMapCache;
  resolver: ReferenceResolver;
  /** Look for target-side edits before each update (one read per update). Default false. */
  detectConflicts?: boolean;
  /** Default `source-wins`. */
  conflictPolicy?: ConflictPolicy;
  /** Whether a record found on the target was created by this run outside the loader (custom fields made by prepare()). Default: never. */
  createdByRun?(entity: EntityName, targetId: string): boolean;
  /**
   * After a write whose outcome is unknown (its answer was lost), how long to wait before each look
   * for the record on the target, in ms; only when every look misses is it written again. Default:
   * looks 1 s after the write and then spread over the target's `writeVisibleWithinMs`.
   */
  unknownOutcomeWaitsMs?: readonly number[];
  /** Where attachments the target cannot hold are kept as links (options.attachmentLinks). Default none. */
  attachmentStore?: AttachmentStore;
}

/**
 * Writes whose outcome stayed unknown this many times in a row fail the record (its intent stays for
 * the next run). Each round appends only the comments still missing, so rounds grow shorter; a ticket
 * gets one more round per comment, because each comment is its own request that can lose its answer
 * and a long thread on a flaky link otherwise runs out of rounds while still making progress.
 */
const UNKNOWN_OUTCOME_ROUNDS = 5;

const unknownOutcomeRounds = (record: unknown): number =>
  UNKNOWN_OUTCOME_ROUNDS + (Array.isArray((record as { comments?: unknown }).comments) ? (record as { comments: unknown[] }).comments.length : 0);

/** Failed records read to tell a run's retries from its new changes; beyond them a retry counts as a change. */
const PRIOR_FAILURES_READ = 200_000;

const isUnknownOutcome = (err: unknown): err is HdmError => err instanceof HdmError && err.code === 'OUTCOME_UNKNOWN';

/** Waits between looks for a record whose write had an unknown outcome: 1 s, then doubling, over `withinMs` in all. */
export function lookAgainAfter(withinMs: number): number[] {
  const waits: number[] = [];
  let total = 0;
  for (let next = Math.min(1_000, withinMs); total < withinMs; next *= 2) {
    const wait = Math.min(next, withinMs - total);
    waits.push(wait);
    total += wait;
  }
  return waits.length > 0 ? waits : [0];
}

/**
 * Entities that only this migration creates on the target (nothing to match by natural key): before
 * creating one, the loader records its intent, so that after a crash only records with an intent
 * need a look-up on the target.
 */
const INTENT_ENTITIES: ReadonlySet<EntityName> = new Set(['ticket', 'kbArticle']);

/**
 * Intent entities a target finds only by natural key (KB articles by title in their section). When the
 * id map holds none of them as a loader starts — a lost state directory, a renamed migration — every
 * create is preceded by a look on the target, so what an earlier run created is not created again.
 * (Tickets are found by their stamps in one pass instead: recoverTicketIds.)
 */
const LOOK_FIRST_WITHOUT_ID_MAP: ReadonlySet<EntityName> = new Set(['kbArticle']);

/**
 * Failures that say nothing about the record: a platform or the ledger out of reach. They stop the
 * run (its cursors stay where they were, so a re-run resumes) instead of failing every record.
 */
const STOPS_THE_RUN: ReadonlySet<string> = new Set(['LEDGER_FAILED', 'UNREACHABLE', 'TIMEOUT', 'AUTH_FAILED']);

/** Field paths per entity that the target cannot preserve. */
export function unpreservedFields(limitations: readonly Limitation[], entity: EntityName): string[] {
  return limitations.filter((l) => l.entity === entity).map((l) => l.field);
}

/**
 * Matches the comments a target already holds to planned ones, in order, by text and visibility, so
 * that a ticket half-written before a crash gets only its missing comments.
 */
export function matchExistingComments(planned: Comment[], existing: Comment[]): Record<string, string> {
  const out: Record<string, string> = {};
  let from = 0;
  for (const comment of planned) {
    const text = htmlText(comment.body);
    for (let i = from; i < existing.length; i++) {
      if (existing[i].public === comment.public && htmlText(existing[i].body) === text) {
        out[comment.sourceId] = existing[i].sourceId;
        from = i + 1;
        break;
      }
    }
  }
  return out;
}

/** Upserts planned records into the target by source ID; every attempt lands in the ledger. */
/** The ledger row of an attempt that failed with `error`, timed from `started` (a `performance.now()`). */
function failedAttempt(runId: string, entity: EntityName, sourceId: string, error: HdmError, rule: string | null, started: number): LoadAttempt {
  return {
    runId,
    entity,
    sourceId,
    targetId: null,
    outcome: 'failed',
    action: 'none',
    rule,
    errorCode: error.code,
    errorMessage: error.message,
    checksum: null,
    durationMs: performance.now() - started,
  };
}

/** What one write did on the target: the action, the record it reached, whether it made it, and the rule that decided. */
type WriteOutcome = { action: LoadAction; ref: TargetRef; created: boolean; rule?: string };

export class Loader {
  /** Per entity of LOOK_FIRST_WITHOUT_ID_MAP: whether the id map was empty when this loader first met one. */
  private readonly lookFirst = new Map<EntityName, Promise<boolean>>();
  /** Target records this loader found by natural key or created, so two source records never claim one. */
  private readonly claimed = new Set<string>();
  private readonly startedAt = Date.now();
  /** Records whose latest load had failed before this loader began (its run's retries), read once. */
  private readonly priorFailures: Promise<Set<string>>;
  private previousRead: Promise<number | null> | null = null;

  constructor(private readonly options: LoaderOptions) {
    // Read before the first load: a retry that loads records its success, and would then not look like one.
    this.priorFailures = this.options.ledger
      .failures(PRIOR_FAILURES_READ)
      .then((rows) => new Set(rows.filter((r) => Date.parse(r.lastAttemptAt) <= this.startedAt).map((r) => `${r.entity}:${r.sourceId}`)))
      .catch(() => new Set<string>());
  }

  private failedBefore(entity: EntityName, sourceId: string): Promise<boolean> {
    return this.priorFailures.then((set) => set.has(`${entity}:${sourceId}`));
  }

  private previousReadAt(): Promise<number | null> {
    this.previousRead ??= this.options.ledger
      .runs()
      .then((runs) => {
        const before = runs.filter((r) => r.runId !== this.options.runId && (r.kind === 'full' || r.kind === 'delta') && r.status === 'succeeded' && Date.parse(r.startedAt) <= this.startedAt);
        return before.length ? Math.max(...before.map((r) => Date.parse(r.startedAt))) : null;
      })
      .catch(() => null);
    return this.previousRead;
  }

  private looksFirst(entity: EntityName): Promise<boolean> {
    if (!LOOK_FIRST_WITHOUT_ID_MAP.has(entity)) return Promise.resolve(false);
    let pending = this.lookFirst.get(entity);
    if (!pending) {
      pending = isEmpty(this.options.ledger.idMap(entity));
      this.lookFirst.set(entity, pending);
    }
    return pending;
  }

  private stamp(sourceId: string): string {
    return recordStamp(this.options.source.platform, sourceId);
  }

  /** The checksum of a resolved (target-ID) record's projection, as verification will compute it. */
  checksumOf<E extends EntityName>(entity: E, resolved: EntityTypes[E]): string {
    return checksum(project(entity, resolved, unpreservedFields(this.options.target.limitations, entity)));
  }

  async load<E extends EntityName>(planned: PlannedRecord<E>): Promise<LoadResult> {
    const started = performance.now();
    const { entity, sourceId } = planned;
    const { ledger, runId } = this.options;
    try {
      const { record, notes } = await this.options.resolver.resolve(entity, planned.record);
      const sum = this.checksumOf(entity, record);
      const plannedSum = checksum(project(entity, record, []));
      const { action, ref, created, rule } = await this.write(planned, record, sum, plannedSum);
      // The id-map row and the attempt row go to the ledger together: one flush instead of two in a
      // row. The load resolves only once both are written, so its message is not yet consumed if a
      // crash comes between them; the replay then finds the record (by its id-map row, or its intent
      // and the target's copy) instead of creating it again.
      const written: Promise<void>[] = [];
      if (action !== 'unchanged') {
        written.push(this.options.ids.put({
          entity,
          sourceId,
          targetId: ref.targetId,
          runId,
          created,
          sourceUpdatedAt: planned.updatedAt,
          checksum: sum,
          plannedChecksum: plannedSum,
          children: ref.children ?? {},
          deleted: false,
        }));
      }
      written.push(
        ledger.recordAttempt({
          runId,
          entity,
          sourceId,
          targetId: ref.targetId,
          outcome: 'loaded',
          action,
          rule: rule ?? null,
          errorCode: null,
          errorMessage: null,
          checksum: sum,
          durationMs: performance.now() - started,
          transforms: action === 'created' || action === 'updated' ? transformKinds([...planned.notes, ...notes]) : [],
        }),
      );
      await Promise.all(written);
      const [retry, previousReadAt] = await Promise.all([this.failedBefore(entity, sourceId), this.previousReadAt()]);
      return { outcome: 'loaded', action, targetId: ref.targetId, notes: [...planned.notes, ...notes], rule: rule ?? null, retry, previousReadAt };
    } catch (err) {
      const error = toHdmError(err, 'INTERNAL', { entity, recordId: sourceId });
      if (STOPS_THE_RUN.has(error.code)) throw error;
      await Promise.all([
        ledger.recordAttempt(failedAttempt(runId, entity, sourceId, error, null, started)),
        ledger.deadLetter({
          runId,
          stage: 'loader',
          entity,
          sourceId,
          errorCode: error.code,
          errorMessage: error.message,
          payload: JSON.stringify(planned.record),
        }),
      ]);
      return { outcome: 'failed', error };
    }
  }

  /** Applies a deletion at the source to the target (only when the migration propagates deletes). */
  async remove(entity: EntityName, sourceId: string, updatedAt: string): Promise<LoadResult> {
    const started = performance.now();
    const { ledger, runId, ids, target } = this.options;
    try {
      const known = await ids.get(entity, sourceId);
      let action: LoadAction = 'none';
      if (known && !known.deleted && known.targetId !== '') {
        try {
          await target.delete(entity, known.targetId);
        } catch (err) {
          if (!(err instanceof HdmError && err.code === 'NOT_FOUND')) throw err;
        }
        await ids.put({ ...known, deleted: true, sourceUpdatedAt: updatedAt, runId });
        action = 'deleted';
      }
      await ledger.recordAttempt({
        runId,
        entity,
        sourceId,
        targetId: known?.targetId || null,
        outcome: 'loaded',
        action,
        rule: 'deleted-at-source',
        errorCode: null,
        errorMessage: null,
        checksum: null,
        durationMs: performance.now() - started,
      });
      return { outcome: 'loaded', action, targetId: known?.targetId ?? '', notes: [], rule: 'deleted-at-source' };
    } catch (err) {
      const error = toHdmError(err, 'INTERNAL', { entity, recordId: sourceId });
      if (STOPS_THE_RUN.has(error.code)) throw error;
      await ledger.recordAttempt(failedAttempt(runId, entity, sourceId, error, 'deleted-at-source', started));
      return { outcome: 'failed', error };
    }
  }

  /**
   * One write, made safe against lost answers: a create or update whose outcome is unknown is never
   * repeated blindly. An update is simply written again (it re-reads the target's comments and
   * appends only the missing ones); a create is first looked for on the target by its stamp, and made
   * again only when it is not there after the waits.
   */
  private async write<E extends EntityName>(
    planned: PlannedRecord<E>,
    record: EntityTypes[E],
    sum: string,
    plannedSum: string,
  ): Promise<WriteOutcome> {
    const { entity, sourceId } = planned;
    // The target record a create with an unknown outcome turned out to have made: completed by updates.
    let made: string | null = null;
    const rounds = unknownOutcomeRounds(record);
    for (let round = 1; ; round++) {
      try {
        if (made !== null) return { action: 'created', ref: await this.update(entity, made, record, null, undefined), created: true };
        return await this.writeOnce(planned, record, sum, plannedSum);
      } catch (err) {
        if (!isUnknownOutcome(err) || round >= rounds) throw err;
      }
      if (made !== null) continue;
      const known = await this.options.ids.get(entity, sourceId);
      if (known && !known.deleted && known.targetId !== '') continue;
      for (const waitMs of this.options.unknownOutcomeWaitsMs ?? lookAgainAfter(this.options.target.capabilities.writeVisibleWithinMs ?? 15_000)) {
        await new Promise((r) => setTimeout(r, waitMs));
        const found = await this.options.target.find(entity, record, this.stamp(sourceId));
        if (found) {
          made = found.targetId;
          break;
        }
      }
    }
  }

  private async writeOnce<E extends EntityName>(
    planned: PlannedRecord<E>,
    record: EntityTypes[E],
    sum: string,
    plannedSum: string,
  ): Promise<WriteOutcome> {
    const { entity, sourceId } = planned;
    const { target, ids } = this.options;
    const known = await ids.get(entity, sourceId);
    if (known && !known.deleted && known.targetId !== '') {
      // Newest wins: an older version of the source record never overwrites what a newer one wrote.
      // Unchanged means the whole planned record, so a mapping change re-writes what it changes.
      const same = known.plannedChecksum ? known.plannedChecksum === plannedSum : known.checksum === sum;
      if (known.sourceUpdatedAt > planned.updatedAt || same) {
        return { action: 'unchanged', ref: { targetId: known.targetId, children: known.children }, created: known.created };
      }
      try {
        let current: EntityTypes[E] | null | undefined;
        let rule: string | undefined;
        if (this.options.detectConflicts) {
          current = await target.get(entity, known.targetId);
          if (current && this.checksumOf(entity, current) !== known.checksum) {
            const policy = this.options.conflictPolicy ?? 'source-wins';
            rule = `conflict:${policy}`;
            if (policy !== 'source-wins') {
              if (policy === 'report') {
                throw new HdmError('CONFLICT', `${entity} ${sourceId}: target record ${known.targetId} was edited on the target since it was loaded; kept as it is (conflict policy "report")`, {
                  retryable: false,
                  context: { entity, recordId: sourceId },
                });
              }
              return { action: 'skipped', ref: { targetId: known.targetId, children: known.children }, created: known.created, rule };
            }
          }
        }
        const ref = await this.update(entity, known.targetId, record, known, current);
        return { action: 'updated', ref, created: known.created, rule };
      } catch (err) {
        // The target record was removed behind our back: create it again rather than fail.
        if (!(err instanceof HdmError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    // An intent (an id map row without a target ID) means an earlier process was creating this record
    // and may have died between the create and the id map write. Records matched by natural key
    // (agents by email, groups by name…) may also exist already. Only then ask the target first.
    const intended = known !== null && known.targetId === '';
    // Where the target matches and writes in one request, that request replaces the look-up and the write.
    if (!intended && !INTENT_ENTITIES.has(entity) && target.upsert) {
      const upserted = await target.upsert(entity, record, this.context(sourceId, {}));
      if (upserted?.created) return { action: 'created', ref: upserted.ref, created: true };
      if (upserted) return { action: 'matched', ref: upserted.ref, created: this.options.createdByRun?.(entity, upserted.ref.targetId) ?? false };
    }
    if (intended || !INTENT_ENTITIES.has(entity) || (await this.looksFirst(entity))) {
      let found = await target.find(entity, record, this.stamp(sourceId));
      if (found && LOOK_FIRST_WITHOUT_ID_MAP.has(entity)) {
        const key = `${entity}:${found.targetId}`;
        if (this.claimed.has(key)) found = null;
        else this.claimed.add(key);
      }
      if (found) {
        const ref = await this.update(entity, found.targetId, record, null, undefined);
        return { action: 'matched', ref, created: intended || (this.options.createdByRun?.(entity, found.targetId) ?? false) };
      }
    }
    if (INTENT_ENTITIES.has(entity) && !intended) {
      await ids.put({
        entity,
        sourceId,
        targetId: '',
        runId: this.options.runId,
        created: false,
        sourceUpdatedAt: planned.updatedAt,
        checksum: '',
        children: {},
        deleted: false,
      });
    }
    const ref = await target.create(entity, record, this.context(sourceId, {}));
    if (LOOK_FIRST_WITHOUT_ID_MAP.has(entity)) this.claimed.add(`${entity}:${ref.targetId}`);
    return { action: 'created', ref, created: true };
  }

  private async update<E extends EntityName>(
    entity: E,
    targetId: string,
    record: EntityTypes[E],
    known: IdMapEntry | null,
    /** The target's current version when already read (undefined: not read yet). */
    current: EntityTypes[E] | null | undefined,
  ): Promise<TargetRef> {
    let children = known?.children ?? {};
    if (entity === 'ticket') {
      const ticket = record as Ticket;
      const missing = ticket.comments.some((c) => !(c.sourceId in children));
      if (missing) {
        // The id map may lag the target (a crash between a write and its map entry): ask the target.
        const onTarget = (current === undefined ? await this.options.target.get('ticket', targetId) : current) as Ticket | null;
        if (onTarget) children = { ...matchExistingComments(ticket.comments, onTarget.comments), ...children };
      }
    }
    const ref = await this.options.target.update(entity, targetId, record, this.context(record.sourceId, children));
    return { targetId: ref.targetId, children: { ...children, ...ref.children } };
  }

  private context(sourceId: string, knownChildren: Record<string, string>): WriteContext {
    return {
      stamp: this.stamp(sourceId),
      knownChildren,
      openAttachment: (attachment) => this.options.source.openAttachment(attachment),
      attachmentStore: this.options.attachmentStore,
    };
  }
}
