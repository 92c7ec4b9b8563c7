import { HdmError } from '../../schemas/errors.ts';
import { ENTITIES, type EntityName } from '../../schemas/canonical.ts';
import type { FailureAcceptance, FailureRow, Ledger } from '../ledger/ledger.ts';

export interface RecordRef {
  entity: EntityName;
  sourceId: string;
}

/** `ticket:123` → { entity: 'ticket', sourceId: '123' }; the source ID may itself hold colons. */
export function parseRecordRef(text: string): RecordRef {
  const cut = text.indexOf(':');
  const entity = cut > 0 ? text.slice(0, cut) : '';
  const sourceId = cut > 0 ? text.slice(cut + 1) : '';
  if (!(ENTITIES as readonly string[]).includes(entity) || sourceId === '') {
    throw new HdmError('CONFIG_INVALID', `"${text.slice(0, 120)}" is not <entity>:<source id> with an entity among ${ENTITIES.join(', ')}`);
  }
  return { entity: entity as EntityName, sourceId };
}

/**
 * Accepts the failures of named records, as an operator's decision with who and why: they then count
 * apart and no longer keep the migration from being clean. Only records whose latest load failed can be
 * accepted; when any named record has not failed, nothing is recorded.
 */
export async function acceptFailures(ledger: Ledger, records: readonly RecordRef[], decision: { by: string; reason: string }, now = new Date()): Promise<FailureAcceptance[]> {
  const reason = decision.reason.trim();
  const by = decision.by.trim();
  if (reason.length < 3) throw new HdmError('CONFIG_INVALID', 'an acceptance needs a reason (at least 3 characters): why may these records stay as they are?');
  if (by === '') throw new HdmError('CONFIG_INVALID', 'an acceptance needs who accepts it');
  const failing = await failingAmong(ledger, records);
  const notFailed = records.filter((r) => !failing.has(`${r.entity}:${r.sourceId}`));
  if (notFailed.length) {
    throw new HdmError('NOT_FOUND', `no failed record ${notFailed.slice(0, 10).map((r) => `${r.entity}:${r.sourceId}`).join(', ')}${notFailed.length > 10 ? ` and ${notFailed.length - 10} more` : ''}: only a record whose latest load failed can be accepted`, {
      context: { entity: notFailed[0].entity, recordId: notFailed[0].sourceId },
    });
  }
  const rows = records.map((r) => ({ entity: r.entity, sourceId: r.sourceId, acceptedBy: by, reason, acceptedAt: now.toISOString(), withdrawn: false }));
  await ledger.acceptFailures(rows);
  return rows;
}

/** Takes acceptances back: the records count as failed again. */
export async function withdrawAcceptances(ledger: Ledger, records: readonly RecordRef[], by: string, now = new Date()): Promise<number> {
  const current = new Set((await ledger.acceptances()).map((a) => `${a.entity}:${a.sourceId}`));
  const rows = records
    .filter((r) => current.has(`${r.entity}:${r.sourceId}`))
    .map((r) => ({ entity: r.entity, sourceId: r.sourceId, acceptedBy: by, reason: 'withdrawn', acceptedAt: now.toISOString(), withdrawn: true }));
  await ledger.acceptFailures(rows);
  return rows.length;
}

async function failingAmong(ledger: Ledger, records: readonly RecordRef[]): Promise<Set<string>> {
  const wanted = new Map<EntityName, Set<string>>();
  for (const r of records) wanted.set(r.entity, (wanted.get(r.entity) ?? new Set()).add(r.sourceId));
  const out = new Set<string>();
  for (const [entity, ids] of wanted) {
    for await (const o of ledger.latestOutcomes(entity)) if (o.outcome === 'failed' && ids.has(o.sourceId)) out.add(`${entity}:${o.sourceId}`);
  }
  return out;
}

/** Failures with the acceptance in force on each (null: nobody accepted it). */
export async function failuresWithAcceptances(ledger: Ledger, limit: number): Promise<(FailureRow & { accepted: { by: string; reason: string; at: string } | null })[]> {
  const [failures, acceptances] = await Promise.all([ledger.failures(limit), ledger.acceptances()]);
  const byRecord = new Map(acceptances.map((a) => [`${a.entity}:${a.sourceId}`, a]));
  return failures.map((f) => {
    const a = byRecord.get(`${f.entity}:${f.sourceId}`);
    return { ...f, accepted: a ? { by: a.acceptedBy, reason: a.reason, at: a.acceptedAt } : null };
  });
}
