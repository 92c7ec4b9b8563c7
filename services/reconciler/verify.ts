import { randomBytes } from 'node:crypto';
import { recordStamp, type Connector } from '../../connectors/sdk/contract.ts';
import { toHdmError } from '../../schemas/errors.ts';
import { LOAD_ORDER, type EntityName, type EntityTypes, type Ticket } from '../../schemas/canonical.ts';
import { DirectoryAttachmentStore } from '../loader/attachment-store.ts';
import { activePaths, checksum, diffProjections, project } from '../../schemas/projection.ts';
import type { FailureAcceptance, IdMapEntry, Ledger, VerificationRow } from '../ledger/ledger.ts';
import { IdMapCache } from '../loader/id-map-cache.ts';
import { unpreservedFields } from '../loader/loader.ts';
import { ReferenceResolver } from '../loader/reference-resolver.ts';
import { mapRecord } from '../mapper/record.mapping.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { pickDefaultAgent } from '../loader/default-agent.ts';
import type { Runtime } from '../runtime/runtime.ts';

export interface EntityReconciliation {
  /** Records at the source. */
  source: number;
  /** Present on the target as the record the id map names. */
  loaded: number;
  /** Neither on the target nor accounted for as filtered or failed. */
  missing: number;
  /** On the target, but its projection differs from the source's mapped projection. */
  mismatched: number;
  /** Whose latest load attempt failed, with a reason in the ledger, and whose failure nobody accepted. */
  failed: number;
  /** Whose latest load failed and an operator accepted it (who and why are in the ledger): counted apart, not blocking. */
  accepted: number;
  /** Extra target records carrying the stamp of a source record already mapped elsewhere. */
  duplicates: number;
  /** Left out by a mapping rule (the ledger names the rule). */
  filtered: number;
}

export interface VerifyIssue {
  entity: EntityName;
  sourceId: string;
  targetId: string;
  status: 'missing' | 'mismatched' | 'duplicate' | 'failed';
  detail: string;
}

export interface VerifyReport {
  verifyId: string;
  entities: Partial<Record<EntityName, EntityReconciliation>>;
  /**
   * true when nothing is missing, mismatched, duplicated or failed: every record is on the target in
   * full, but for failures an operator accepted (counted as `accepted`).
   */
  clean: boolean;
  /** The first issues found per entity, with their details. */
  issues: VerifyIssue[];
}

export interface VerifyOptions {
  source: Connector;
  target: Connector;
  ledger: Ledger;
  rules: MappingRules;
  entities: readonly EntityName[];
  defaultAgentEmail: string | null;
  /**
   * Re-read the source and recompute each record's mapped projection (true), or trust the checksums
   * the loader recorded (false). Default true.
   */
  sourceScan?: boolean;
  /** Issues kept per entity for the report. Default 20. */
  issueSamples?: number;
  progress?(entity: EntityName, phase: 'target' | 'source', records: number): void;
  /** Every issue found, not only the report's samples (what `hdm migrate --repair` acts on). */
  onIssue?(issue: VerifyIssue): void;
  /** The verification's ID, before its first verdict is written (run histories name who started it). */
  onStart?(verifyId: string): void;
}

/**
 * Reads the target back through its connector and compares it with the source, record by record.
 * Every verdict is written to the ledger's `verifications` table.
 */
/** What judging one record needs to know, from scans made up front or asked record by record. */
export interface RecordLookups {
  /** The id map's entry for a source record. */
  entry(sourceId: string): IdMapEntry | undefined;
  /** A source record's latest load outcome. */
  outcome(sourceId: string): { outcome: string; errorCode: string; errorMessage: string } | undefined;
  /** The checksum of a target record's projection; undefined when the target does not hold it. */
  onTarget(targetId: string): Promise<string | undefined>;
  /** Active content (scripts, handlers) on a target record, as paths; undefined when none. */
  active(targetId: string): string | undefined;
  /** Target records that carry a source record's stamp. */
  stamped(sourceId: string): Promise<string[]>;
}

/** Judges records of one entity into verification rows and counts. */
export class EntityCheck {
  readonly stats: EntityReconciliation = { source: 0, loaded: 0, missing: 0, mismatched: 0, failed: 0, accepted: 0, duplicates: 0, filtered: 0 };
  readonly rows: VerificationRow[] = [];
  private samples = 0;

  constructor(
    private readonly context: {
      verifyId: string;
      entity: EntityName;
      report: { issues: VerifyIssue[] };
      sampleLimit: number;
      acceptances: ReadonlyMap<string, FailureAcceptance>;
      lookups: RecordLookups;
      /** A few words on how the target copy differs, for the report's samples. */
      mismatchDetail(sourceId: string, targetId: string): Promise<string>;
      onIssue?(issue: VerifyIssue): void;
      checkedAt?: string;
    },
  ) {}

  get hasSampleRoom(): boolean {
    return this.samples < this.context.sampleLimit;
  }

  private push(row: Omit<VerificationRow, 'verifyId' | 'entity'>): void {
    const { verifyId, entity, checkedAt } = this.context;
    this.rows.push({ verifyId, entity, ...row, ...(checkedAt ? { checkedAt } : {}) });
  }

  private issue(status: VerifyIssue['status'], sourceId: string, targetId: string, detail: string, expected = '', actual = ''): void {
    const { entity } = this.context;
    this.push({ sourceId, targetId, status, expectedChecksum: expected, actualChecksum: actual, detail });
    this.context.onIssue?.({ entity, sourceId, targetId, status, detail });
    if (this.samples < this.context.sampleLimit) {
      this.context.report.issues.push({ entity, sourceId, targetId, status, detail });
      this.samples += 1;
    }
  }

  /** One source record: `expected` is its mapped projection's checksum (null: trust the loader's). */
  async judge(sourceId: string, expected: string | null, filteredBy: string | null): Promise<void> {
    const { stats } = this;
    const { lookups, acceptances } = this.context;
    stats.source += 1;
    const outcome = lookups.outcome(sourceId);
    if (filteredBy || outcome?.outcome === 'filtered') {
      stats.filtered += 1;
      return;
    }
    if (outcome?.outcome === 'failed') {
      const reason = `${outcome.errorCode}: ${outcome.errorMessage}`;
      const acceptance = acceptances.get(sourceId);
      if (acceptance) {
        stats.accepted += 1;
        this.push({ sourceId, targetId: '', status: 'accepted', expectedChecksum: '', actualChecksum: '', detail: `failure accepted by ${acceptance.acceptedBy} (${acceptance.reason}): ${reason}` });
        return;
      }
      stats.failed += 1;
      // A failed load may have written part of the record (a ticket whose notes failed): that copy
      // is a mismatch of the record, never a loaded one.
      const mapped = lookups.entry(sourceId)?.targetId;
      const mappedSum = mapped === undefined ? undefined : await lookups.onTarget(mapped);
      const partial = mappedSum !== undefined ? mapped : (await lookups.stamped(sourceId))[0];
      const actual = partial === undefined ? undefined : partial === mapped ? mappedSum : await lookups.onTarget(partial);
      if (partial !== undefined && actual !== undefined && (expected === null || expected !== actual)) {
        stats.mismatched += 1;
        this.issue('mismatched', sourceId, partial, `on the target as ${partial}, not as the source has it: its latest load failed (${reason})`, expected ?? '', actual);
        return;
      }
      this.issue('failed', sourceId, partial ?? '', reason);
      return;
    }
    const entry = lookups.entry(sourceId);
    const actual = entry?.targetId ? await lookups.onTarget(entry.targetId) : undefined;
    if (!entry || actual === undefined) {
      stats.missing += 1;
      this.issue('missing', sourceId, entry?.targetId ?? '', entry ? `target record ${entry.targetId} is gone` : 'never loaded');
      return;
    }
    stats.loaded += 1;
    const want = expected ?? entry.checksum;
    const active = lookups.active(entry.targetId);
    if (active) {
      stats.mismatched += 1;
      this.issue('mismatched', sourceId, entry.targetId, `the target's copy carries active content (scripts, handlers) sanitizing removes: ${active}`, want, actual);
    } else if (want !== actual) {
      stats.mismatched += 1;
      this.issue('mismatched', sourceId, entry.targetId, this.hasSampleRoom ? await this.context.mismatchDetail(sourceId, entry.targetId) : '', want, actual);
    } else {
      this.push({ sourceId, targetId: entry.targetId, status: 'ok', expectedChecksum: want, actualChecksum: actual, detail: '' });
    }
    for (const other of await lookups.stamped(sourceId)) {
      if (other === entry.targetId) continue;
      stats.duplicates += 1;
      this.issue('duplicate', sourceId, other, `target record ${other} carries this record's stamp besides ${entry.targetId}`);
    }
  }
}

/** What source and target records are compared through: the mapping, references resolved as the loader does. */
export async function comparison(options: Pick<VerifyOptions, 'source' | 'target' | 'ledger' | 'rules' | 'defaultAgentEmail'>) {
  const { source, target, rules } = options;
  const ids = new IdMapCache(options.ledger);
  const defaultAgent = await pickDefaultAgent({ source, target, defaultAgentEmail: options.defaultAgentEmail }, ids);
  const resolver = new ReferenceResolver(ids, () => defaultAgent.current());
  const store = rules.attachmentLinks ? new DirectoryAttachmentStore(rules.attachmentLinks) : null;
  // A ticket's attachments linked at the attachment location count only where the file is there, whole.
  const keptOnly = async <E extends EntityName>(entity: E, record: EntityTypes[E]): Promise<EntityTypes[E]> => {
    if (entity !== 'ticket' || !store) return record;
    const ticket = record as Ticket;
    if (!ticket.comments.some((c) => c.attachments.some((a) => store.owns(a.url)))) return record;
    const comments = await Promise.all(
      ticket.comments.map(async (c) => {
        const kept = await Promise.all(c.attachments.map(async (a) => !store.owns(a.url) || (await store.sizeOf(a.url)) === a.size));
        return { ...c, attachments: c.attachments.filter((_, i) => kept[i]) };
      }),
    );
    return { ...ticket, comments } as EntityTypes[E];
  };
  return {
    /** A target record's projection, its linked attachments counted only where the files are there. */
    async targetProjection(entity: EntityName, record: EntityTypes[EntityName], unpreserved: ReturnType<typeof unpreservedFields>) {
      return project(entity, await keptOnly(entity, record), unpreserved);
    },
    /** The checksum the source record should have on the target; null when it cannot be resolved yet. */
    async expected(
      entity: EntityName,
      record: EntityTypes[EntityName],
      unpreserved: ReturnType<typeof unpreservedFields>,
    ): Promise<{ filteredBy: string } | { checksum: string | null; record?: EntityTypes[EntityName] }> {
      const mapped = mapRecord(entity, record, rules);
      if (mapped.kind === 'filtered') return { filteredBy: mapped.rule };
      try {
        const resolved = await resolver.resolve(entity, mapped.record);
        return { checksum: checksum(project(entity, resolved.record, unpreserved)), record: resolved.record };
      } catch {
        return { checksum: null };
      }
    },
    async mismatchDetail(entity: EntityName, sourceId: string, targetId: string, unpreserved: ReturnType<typeof unpreservedFields>): Promise<string> {
      try {
        const [src, dst] = await Promise.all([source.get(entity, sourceId), target.get(entity, targetId)]);
        if (!src || !dst) return 'record vanished while verifying';
        const mapped = mapRecord(entity, src, rules);
        if (mapped.kind !== 'planned') return 'now filtered';
        const resolved = await resolver.resolve(entity, mapped.record);
        const diffs = diffProjections(project(entity, resolved.record, unpreserved), project(entity, await keptOnly(entity, dst as EntityTypes[EntityName]), unpreserved));
        return diffs
          .slice(0, 5)
          .map((d) => `${d.path}: expected ${JSON.stringify(d.expected)?.slice(0, 80)}, found ${JSON.stringify(d.actual)?.slice(0, 80)}`)
          .join('; ');
      } catch (err) {
        return `could not diff: ${toHdmError(err).message}`;
      }
    },
  };
}

export const newVerifyId = () => `verify-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;

/** Failures in force an operator accepted, per entity, by source ID. */
export async function acceptedFailures(ledger: Ledger): Promise<Map<string, Map<string, FailureAcceptance>>> {
  const out = new Map<string, Map<string, FailureAcceptance>>();
  for (const a of await ledger.acceptances()) {
    if (!a.failing) continue;
    const per = out.get(a.entity) ?? new Map<string, FailureAcceptance>();
    per.set(a.sourceId, a);
    out.set(a.entity, per);
  }
  return out;
}

/**
 * Reads the target back through its connector and compares it with the source, record by record.
 * Every verdict is written to the ledger's `verifications` table.
 */
export async function verifyMigration(options: VerifyOptions): Promise<VerifyReport> {
  const { source, target, ledger } = options;
  const verifyId = newVerifyId();
  options.onStart?.(verifyId);
  const sampleLimit = options.issueSamples ?? 20;
  const sourceScan = options.sourceScan ?? true;
  await ledger.flush();
  const compare = await comparison(options);
  const report: VerifyReport = { verifyId, entities: {}, clean: true, issues: [] };
  const acceptances = await acceptedFailures(ledger);

  for (const entity of LOAD_ORDER) {
    if (!options.entities.includes(entity)) continue;
    const unpreserved = unpreservedFields(target.limitations, entity);

    // What the target holds, by target ID, and who carries which stamp.
    const onTarget = new Map<string, string>();
    const activeOnTarget = new Map<string, string>();
    const byStamp = new Map<string, string[]>();
    let targetCount = 0;
    for await (const page of target.read(entity, null)) {
      for (const envelope of page.records) {
        if (envelope.op !== 'upsert') continue;
        const projection = await compare.targetProjection(entity, envelope.record, unpreserved);
        onTarget.set(envelope.sourceId, checksum(projection));
        const active = activePaths(projection);
        if (active.length > 0) activeOnTarget.set(envelope.sourceId, active.join('; '));
        if (envelope.stamp) byStamp.set(envelope.stamp, [...(byStamp.get(envelope.stamp) ?? []), envelope.sourceId]);
      }
      targetCount += page.records.length;
      options.progress?.(entity, 'target', targetCount);
    }

    const idMap = new Map<string, IdMapEntry>();
    for await (const entry of ledger.idMap(entity)) idMap.set(entry.sourceId, entry);
    const outcomes = new Map<string, { outcome: string; errorCode: string; errorMessage: string; rule: string }>();
    for await (const o of ledger.latestOutcomes(entity)) outcomes.set(o.sourceId, o);

    const readBack = async (targetId: string): Promise<string | undefined> => {
      const record = await target.get(entity, targetId);
      if (!record) return undefined;
      const sum = checksum(await compare.targetProjection(entity, record as EntityTypes[EntityName], unpreserved));
      onTarget.set(targetId, sum);
      return sum;
    };

    const check = new EntityCheck({
      verifyId,
      entity,
      report,
      sampleLimit,
      acceptances: acceptances.get(entity) ?? new Map(),
      onIssue: options.onIssue,
      mismatchDetail: (sourceId, targetId) => compare.mismatchDetail(entity, sourceId, targetId, unpreserved),
      lookups: {
        entry: (sourceId) => idMap.get(sourceId),
        outcome: (sourceId) => outcomes.get(sourceId),
        // A scan may lag behind the writes (Zendesk's exports leave out the last minute): a record the
        // scan did not show is asked for by its ID before it is called missing.
        onTarget: async (targetId) => onTarget.get(targetId) ?? (await readBack(targetId)),
        active: (targetId) => activeOnTarget.get(targetId),
        stamped: async (sourceId) => byStamp.get(recordStamp(source.platform, sourceId)) ?? [],
      },
    });

    if (sourceScan) {
      let read = 0;
      // An export serves a record again on a later page when it changed while being read: judged once.
      const judged = new Set<string>();
      for await (const page of source.read(entity, null)) {
        for (const envelope of page.records) {
          if (envelope.op !== 'upsert' || judged.has(envelope.sourceId)) continue;
          judged.add(envelope.sourceId);
          const expected = await compare.expected(entity, envelope.record, unpreserved);
          if ('filteredBy' in expected) await check.judge(envelope.sourceId, null, expected.filteredBy);
          else await check.judge(envelope.sourceId, expected.checksum, null);
        }
        read += page.records.length;
        options.progress?.(entity, 'source', read);
      }
    } else {
      for await (const sourceId of ledger.sourceIds(entity)) await check.judge(sourceId, null, null);
    }

    await ledger.recordVerifications(check.rows);
    const stats = check.stats;
    report.entities[entity] = stats;
    if (stats.missing > 0 || stats.mismatched > 0 || stats.duplicates > 0 || stats.failed > 0) report.clean = false;
  }
  await ledger.flush();
  return report;
}

/** The verify options of the migration a runtime was opened for. */
export function verifyOptionsOf(runtime: Pick<Runtime, 'source' | 'target' | 'ledger' | 'rules' | 'config'>): VerifyOptions {
  return {
    source: runtime.source,
    target: runtime.target,
    ledger: runtime.ledger,
    rules: runtime.rules,
    entities: runtime.config.entities,
    defaultAgentEmail: runtime.config.options.defaultAgentEmail,
  };
}

/** Verifies the migration a runtime was opened for. */
export function verifyRuntime(
  runtime: Pick<Runtime, 'source' | 'target' | 'ledger' | 'rules' | 'config'>,
  options: Pick<VerifyOptions, 'sourceScan' | 'onIssue' | 'onStart'> = {},
): Promise<VerifyReport> {
  return verifyMigration({ ...verifyOptionsOf(runtime), ...options });
}
