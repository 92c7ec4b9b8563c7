import { recordStamp } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { LOAD_ORDER, type EntityName, type EntityTypes } from '../../schemas/canonical.ts';
import { activePaths, checksum } from '../../schemas/projection.ts';
import type { VerificationRow } from '../ledger/ledger.ts';
import { unpreservedFields } from '../loader/loader.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { acceptedFailures, comparison, EntityCheck, newVerifyId, verifyOptionsOf, type VerifyIssue, type VerifyOptions } from './verify.ts';

export interface ChangedVerifyReport {
  verifyId: string;
  /** The verification this one builds on: its rows for records nobody wrote since are carried over. */
  baseVerifyId: string;
  /** The instant this verification stands for: anything written after it makes it stale. */
  checkedAt: string;
  /** Records re-checked on both sides, because a load attempt touched them since the base. */
  rechecked: number;
  /** Rows carried over from the base unchanged. */
  carried: number;
  /** Records gone from the source since the base (deleted there): no longer judged. */
  goneAtSource: number;
  /** Whether nothing is missing, mismatched, duplicated or failed, carried rows included. */
  clean: boolean;
  /** Rows by entity and status, carried and re-checked together. */
  statuses: Partial<Record<EntityName, Record<string, number>>>;
  /** The first issues the re-check found. */
  issues: VerifyIssue[];
}

const BAD: ReadonlySet<string> = new Set(['missing', 'mismatched', 'duplicate', 'failed']);

/**
 * Verification of what changed: re-checks on both sides every record a load attempt touched since the
 * latest verification (written, refused, failed or seen in conflict) and carries that verification's
 * rows over for the rest, as a new verification dated from before the re-check began. What a delta
 * wrote is verified at the cost of its own records, not of a whole scan; a full `verifyMigration` stays
 * the one that reads both sides whole and lists every duplicate.
 */
export async function verifyChanged(options: VerifyOptions): Promise<ChangedVerifyReport> {
  const { source, target, ledger } = options;
  // Dated before anything is read: a write that lands while the re-check runs makes it stale.
  const checkedAt = new Date().toISOString();
  await ledger.flush();
  const base = await ledger.latestVerification();
  if (!base) throw new HdmError('NOT_READY', 'no verification to build on: run `hdm verify` once, then re-check what changed', { retryable: false });
  const verifyId = newVerifyId();
  const touched = await ledger.attemptedSince(base.checkedAt);
  if (touched.length === 0) {
    // Nothing attempted since: the base still stands as it is, with its own date.
    const statuses: ChangedVerifyReport['statuses'] = {};
    for (const row of base.rows) (statuses[row.entity] ??= {})[row.status] = (statuses[row.entity]?.[row.status] ?? 0) + 1;
    const clean = !base.rows.some((row) => BAD.has(row.status));
    return { verifyId: base.verifyId, baseVerifyId: base.verifyId, checkedAt: base.checkedAt, rechecked: 0, carried: base.rows.length, goneAtSource: 0, clean, statuses, issues: [] };
  }
  const byEntity = new Map<EntityName, string[]>();
  for (const t of touched) if (options.entities.includes(t.entity)) byEntity.set(t.entity, [...(byEntity.get(t.entity) ?? []), t.sourceId]);

  const compare = await comparison(options);
  const acceptances = await acceptedFailures(ledger);
  const report: ChangedVerifyReport = { verifyId, baseVerifyId: base.verifyId, checkedAt, rechecked: 0, carried: 0, goneAtSource: 0, clean: true, statuses: {}, issues: [] };
  const rows: VerificationRow[] = [];

  for (const entity of LOAD_ORDER) {
    const ids = byEntity.get(entity);
    if (!ids) continue;
    const unpreserved = unpreservedFields(target.limitations, entity);
    const entries = await ledger.lookupIds(entity, ids);
    const wanted = new Set(ids);
    const outcomes = new Map<string, { outcome: string; errorCode: string; errorMessage: string }>();
    for await (const o of ledger.latestOutcomes(entity)) if (wanted.has(o.sourceId)) outcomes.set(o.sourceId, o);
    const onTarget = new Map<string, { sum: string; active: string } | null>();
    const readTarget = async (targetId: string) => {
      if (!onTarget.has(targetId)) {
        const record = await target.get(entity, targetId);
        const projection = record ? await compare.targetProjection(entity, record as EntityTypes[EntityName], unpreserved) : null;
        onTarget.set(targetId, projection ? { sum: checksum(projection), active: activePaths(projection).join('; ') } : null);
      }
      return onTarget.get(targetId) ?? undefined;
    };
    const resolved = new Map<string, EntityTypes[EntityName]>();
    const check = new EntityCheck({
      verifyId,
      entity,
      report,
      sampleLimit: options.issueSamples ?? 20,
      acceptances: acceptances.get(entity) ?? new Map(),
      onIssue: options.onIssue,
      checkedAt,
      mismatchDetail: (sourceId, targetId) => compare.mismatchDetail(entity, sourceId, targetId, unpreserved),
      lookups: {
        entry: (sourceId) => entries.get(sourceId),
        outcome: (sourceId) => outcomes.get(sourceId),
        onTarget: async (targetId) => (await readTarget(targetId))?.sum,
        active: (targetId) => onTarget.get(targetId)?.active || undefined,
        // One look-up by the record's stamp: a second copy the target finds first is a duplicate.
        stamped: async (sourceId) => {
          const record = resolved.get(sourceId);
          if (!record) return [];
          const found = await target.find(entity, record, recordStamp(source.platform, sourceId)).catch(() => null);
          return found ? [found.targetId] : [];
        },
      },
    });
    for (const sourceId of ids) {
      const record = await source.get(entity, sourceId);
      if (!record) {
        report.goneAtSource += 1;
        continue;
      }
      const expected = await compare.expected(entity, record as EntityTypes[EntityName], unpreserved);
      if ('filteredBy' in expected) {
        await check.judge(sourceId, null, expected.filteredBy);
        continue;
      }
      if (expected.record) resolved.set(sourceId, expected.record);
      await check.judge(sourceId, expected.checksum, null);
      report.rechecked += 1;
    }
    rows.push(...check.rows);
  }

  const recheckedKeys = new Set(touched.map((t) => `${t.entity}\u0000${t.sourceId}`));
  for (const row of base.rows) {
    if (recheckedKeys.has(`${row.entity}\u0000${row.sourceId}`) || !options.entities.includes(row.entity)) continue;
    rows.push({ ...row, verifyId, checkedAt });
    report.carried += 1;
  }
  for (const row of rows) {
    const per = (report.statuses[row.entity] ??= {});
    per[row.status] = (per[row.status] ?? 0) + 1;
    if (BAD.has(row.status)) report.clean = false;
  }
  await ledger.recordVerifications(rows);
  await ledger.flush();
  return report;
}

/** Re-checks what changed in the migration a runtime was opened for. */
export function verifyChangedRuntime(runtime: Pick<Runtime, 'source' | 'target' | 'ledger' | 'rules' | 'config'>, options: Pick<VerifyOptions, 'onIssue'> = {}): Promise<ChangedVerifyReport> {
  return verifyChanged({ ...verifyOptionsOf(runtime), ...options });
}
