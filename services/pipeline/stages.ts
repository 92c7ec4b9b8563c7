import type { HdmError } from '../../schemas/errors.ts';
import type { EntityName, Envelope } from '../../schemas/canonical.ts';
import type { BusMessage, Handler, MessageBus, OutgoingMessage } from '../bus/message-bus.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { Loader, PlannedRecord } from '../loader/loader.ts';
import { mapRecord } from '../mapper/record.mapping.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { transformOf } from '../mapper/transforms.ts';
import type { Logger } from '../common/logger.ts';
import { canonicalWeight, plannedTopic, RUN_HEADER, SEEN_HEADER } from '../bus/topics.ts';

/**
 * The mapper and loader stages as bus handlers. The embedded pipeline subscribes them in one
 * process; a cluster runs each in its own. A handler resolves only once its output is published
 * (mapper) or loaded and in the ledger (loader), so a bus may count the message consumed then.
 */

/** A message on a `planned.*` topic: a record to upsert, or a deletion to apply. */
export type PlannedMessage = (PlannedRecord & { op?: 'upsert' }) | { op: 'delete'; entity: EntityName; sourceId: string; updatedAt: string };

/**
 * Publishes what a handled message caused. On a durable bus the handler waits for the broker's
 * acknowledgement, since its own message counts as consumed when it returns; in process, completion
 * is tracked through `parent` and waiting would only hold the mapper back.
 */
async function publishDurably<T>(bus: MessageBus, topic: string, message: OutgoingMessage<T>, parent: BusMessage): Promise<void> {
  const receipt = await bus.publish(topic, [message], { parent });
  if (bus.durable) await receipt.settled;
}

export interface MapperStageDeps {
  bus: MessageBus;
  ledger: Ledger;
  rules: MappingRules;
  runId: string;
  /** Deletions are always recorded by the poller; they reach the loader only when propagated. */
  propagateDeletes?: boolean;
  /** A record a mapping rule left out (counted, and written to the ledger by the stage). */
  onFiltered?(entity: EntityName, rule: string): void;
  /** A record mapped and handed to the loader. */
  onMapped?(entity: EntityName): void;
}

export function mapperStage(deps: MapperStageDeps): Handler<Envelope> {
  const { bus, ledger, rules } = deps;
  return async (message: BusMessage<Envelope>) => {
    const envelope = message.value;
    const runId = message.headers[RUN_HEADER] ?? deps.runId;
    const out = plannedTopic(envelope.entity);
    if (envelope.op === 'delete') {
      if (deps.propagateDeletes) {
        const deletion: PlannedMessage = { op: 'delete', entity: envelope.entity, sourceId: envelope.sourceId, updatedAt: envelope.updatedAt };
        await publishDurably(bus, out, { key: message.key, value: deletion, headers: message.headers }, message);
      }
      return;
    }
    const mapped = mapRecord(envelope.entity, envelope.record, rules);
    if (mapped.kind === 'filtered') {
      await ledger.recordAttempt({
        runId,
        entity: envelope.entity,
        sourceId: envelope.sourceId,
        targetId: null,
        outcome: 'filtered',
        action: 'skipped',
        rule: mapped.rule,
        errorCode: null,
        errorMessage: null,
        checksum: null,
        durationMs: 0,
      });
      deps.onFiltered?.(envelope.entity, mapped.rule);
      return;
    }
    const planned: PlannedMessage = { entity: envelope.entity, sourceId: envelope.sourceId, updatedAt: envelope.updatedAt, record: mapped.record, notes: mapped.notes };
    const headers = message.headers[SEEN_HEADER] ? message.headers : { ...message.headers, [SEEN_HEADER]: String(Date.now()) };
    await publishDurably(bus, out, { key: message.key, value: planned, headers }, message);
    deps.onMapped?.(envelope.entity);
  };
}

export interface LoaderStageDeps {
  /** The loader, or (cluster services) the loader of the run a message names in its header. */
  loader: Loader | ((runId: string) => Promise<Loader>);
  /** The run of messages without a run header. */
  runId: string;
  logger?: Logger;
  /**
   * After each load, with the canonical records it counts for. `lagMs`: for a new change, from when it
   * became visible at the source to now; null for a retry of an earlier failure (`retry`) and for loads that wrote nothing new.
   * `notes`: the transformations the mapper applied, for records the load created or updated.
   */
  onLoaded?(entity: EntityName, result: { sourceId: string; action: string; rule: string | null; lagMs: number | null; retry: boolean; notes: string[] }, weight: number): void;
  onFailed?(entity: EntityName, error: HdmError): void;
}

export function loaderStage(deps: LoaderStageDeps): Handler<PlannedMessage> {
  return async (message: BusMessage<PlannedMessage>) => {
    const planned = message.value;
    const runId = message.headers[RUN_HEADER] ?? deps.runId;
    const loader = typeof deps.loader === 'function' ? await deps.loader(runId) : deps.loader;
    const result = planned.op === 'delete' ? await loader.remove(planned.entity, planned.sourceId, planned.updatedAt) : await loader.load(planned);
    const weight = planned.op === 'delete' ? 1 : canonicalWeight({ ...planned, op: 'upsert' } as Envelope);
    if (result.outcome === 'loaded') {
      const retry = result.retry === true;
      const lagMs = retry || (result.action !== 'created' && result.action !== 'updated') ? null : changeLag(planned.updatedAt, message.headers[SEEN_HEADER], result.previousReadAt ?? null);
      const applied = result.action === 'created' || result.action === 'updated' ? result.notes.filter((n) => transformOf(n) !== null) : [];
      if (applied.length > 0) deps.logger?.info({ runId, entity: planned.entity, sourceId: planned.sourceId, transformations: applied }, 'changed on its way to the target');
      deps.onLoaded?.(planned.entity, { sourceId: planned.sourceId, action: result.action, rule: result.rule, lagMs, retry, notes: applied }, weight);
    } else {
      deps.logger?.warn({ runId, entity: planned.entity, sourceId: planned.sourceId, code: result.error.code, context: result.error.context }, result.error.message);
      deps.onFailed?.(planned.entity, result.error);
    }
  };
}

/**
 * Lag of a change loaded now, from when it became visible at the source: its update time, which is
 * when an export shows it. A change older than the previous run's read was not visible to that read
 * (it showed up late, or was read again): its lag runs from when the pipeline first had it in hand.
 * Neither is before it was in hand when the source's clock runs ahead of ours.
 */
export function changeLag(updatedAt: string, seenAtHeader: string | undefined, previousReadAt: number | null, now = Date.now()): number | null {
  const changed = Date.parse(updatedAt);
  const seen = Number(seenAtHeader) > 0 ? Number(seenAtHeader) : null;
  let from = Number.isFinite(changed) ? changed : seen;
  if (from === null) return null;
  if (seen !== null && (from > seen || (previousReadAt !== null && from < previousReadAt))) from = seen;
  return Math.max(0, now - from);
}
