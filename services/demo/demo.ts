import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { recordStamp, type Connector, type IdRange, type Page, type ReadOptions, type StreamState } from '../../connectors/sdk/contract.ts';
import { HdmError, toHdmError } from '../../schemas/errors.ts';
import type { EntityName, EntityTypes, Envelope, Ticket } from '../../schemas/canonical.ts';
import { ORIGINAL_CREATED_FIELD } from '../../schemas/config.ts';
import { diffProjections, htmlText, pathUnder, project } from '../../schemas/projection.ts';
import type { Ledger, LoadAttempt, Outcome, RunInfo } from '../ledger/ledger.ts';
import { IdMapCache } from '../loader/id-map-cache.ts';
import { PRIVATE_FILE, privateDir } from '../common/private-files.ts';
import { ReferenceResolver } from '../loader/reference-resolver.ts';
import { mapRecord } from '../mapper/record.mapping.ts';
import { originalHeaderText } from '../mapper/originals.mapping.ts';
import type { MappingRules } from '../mapper/rules.ts';
import { addUnmatched, type PreflightReport } from '../mapper/preflight.ts';
import { pickDefaultAgent } from '../loader/default-agent.ts';
import { runEntities, type RunResult } from '../pipeline/pipeline.ts';
import type { Runtime } from '../runtime/runtime.ts';

export interface DemoOptions {
  /** Source ticket IDs to move; default: `count` picked at random. */
  tickets?: string[];
  /** Source KB article IDs to move; default: `count` picked at random. */
  articles?: string[];
  /** Records of each kind picked at random. Default 20. */
  count?: number;
  /**
   * Records read from the start of a source stream to pick from. Default 10 × count, at least 100.
   * Tickets are drawn by ID across the source's whole range instead when it can tell the range.
   */
  pool?: number;
  /** Draw a new random sample instead of re-using the previous demo's. Default false. */
  resample?: boolean;
  /** Random numbers in [0, 1). Default Math.random. */
  random?: () => number;
  signal?: AbortSignal;
  /** Told of each step, for a progress line. */
  step?(message: string): void;
}

/** One field of a record's projection, compared between what was planned and what the target holds. */
export interface FieldCheck {
  field: string;
  /** ok: arrived as planned; lost: differs only where the target cannot preserve it; differs: anything else. */
  status: 'ok' | 'lost' | 'differs';
  expected: unknown;
  actual: unknown;
  /** Differences below this field, as dotted paths. */
  differences: { path: string; expected: unknown; actual: unknown }[];
  /** What the target cannot preserve under this field, from its connector's declared limitations. */
  limitations: string[];
}

export interface DemoRecord {
  entity: EntityName;
  sourceId: string;
  sourceUrl: string;
  targetId: string | null;
  targetUrl: string | null;
  /** The source-ID stamp the target record carries (found again by it: `carriesSourceId`). */
  stamp: string;
  carriesSourceId: boolean | null;
  /** The latest load attempt's outcome (`undone` once `hdm undo` removed the record). */
  outcome: Outcome;
  action: string;
  rule: string | null;
  error: string | null;
  /** What the mapping changed or re-assigned on the way. */
  notes: string[];
  checks: FieldCheck[];
  /**
   * Tickets on a target that sets its own times: what the target copy keeps visibly of the originals
   * (`options.originals`), e.g. `original_created_at: 2024-03-05` and the description's header line.
   */
  originals?: string[];
}

export interface DemoReport {
  runId: string;
  migration: string;
  source: { platform: string };
  target: { platform: string };
  startedAt: string;
  finishedAt: string;
  /** Whether the records were drawn at random, given by the user, or re-used from the previous demo. */
  selection: 'random' | 'given' | 'previous';
  records: DemoRecord[];
  /** Per entity, what the run did (including records loaded because the picked ones reference them). */
  counts: RunResult['counts'];
  /** Per entity and action, every record this demo loaded: the picked ones and what they reference. */
  loaded: Record<string, Record<string, number>>;
  mapping: PreflightReport;
  /** Users whose work went to the default agent in these records. */
  reassigned: { sourceId: string; detail: string }[];
  /** Everything the target cannot preserve, as its connector declares it. */
  limitations: { entity: EntityName; field: string; description: string }[];
  ok: boolean;
}

/** Streams read whole in a demo: small, and needed before anything else (default agent, custom fields). */
const READ_WHOLE: ReadonlySet<EntityName> = new Set(['agent', 'ticketField']);

function sample<T>(items: T[], n: number, random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

/** The named source records; fails naming every ID the source does not have. */
export async function sourceRecords<E extends EntityName>(source: Connector, entity: E, ids: string[]): Promise<EntityTypes[E][]> {
  const found = await Promise.all(ids.map((id) => source.get(entity, id)));
  const missing = ids.filter((_, i) => !found[i]);
  if (missing.length > 0) {
    const flag = entity === 'ticket' ? '--tickets' : '--articles';
    throw new HdmError('CONFIG_INVALID', `${flag}: the source (${source.platform}) has no ${entity} ${missing.join(', ')}`, { context: { entity, field: flag } });
  }
  return found as EntityTypes[E][];
}

const envelopeOf = <E extends EntityName>(entity: E, record: EntityTypes[E]): Envelope<E> => ({ entity, op: 'upsert', sourceId: record.sourceId, updatedAt: record.updatedAt, record });

/**
 * The range to draw IDs from: when the source can tell it and it is larger than the pool (a pool as
 * large as the range holds every record already, and costs fewer requests).
 */
async function drawRange(source: Connector, entity: EntityName, pool: number): Promise<IdRange | null> {
  const range = source.idRange ? await source.idRange(entity) : null;
  return range && range.highest - range.lowest + 1 > pool ? range : null;
}

/** Gets per request batch while drawing IDs. */
const DRAW_CONCURRENCY = 4;

/**
 * Picks records of one entity: the given IDs (each must exist), or `count` at random: drawn by ID
 * across the whole range when the source can tell it (IDs that are gone or that the mapping leaves
 * out are drawn again, up to ten tries a record), topped up from the first `pool` records.
 */
async function pick<E extends EntityName>(
  runtime: Runtime,
  entity: E,
  ids: string[] | undefined,
  count: number,
  from: { pool: number; range: IdRange | null },
  random: () => number,
): Promise<Envelope<E>[]> {
  const { source, rules } = runtime;
  if (ids && ids.length > 0) {
    const found = await sourceRecords(source, entity, ids);
    return found.map((record) => envelopeOf(entity, record));
  }
  if (count === 0) return [];
  // Random picks are records the mapping would move; a record the user names is shown whatever happens to it.
  const moves = (record: EntityTypes[E]) => mapRecord(entity, record, rules).kind === 'planned';
  const picked = new Map<string, Envelope<E>>();
  if (from.range) {
    const { lowest, highest } = from.range;
    const span = highest - lowest + 1;
    const tried = new Set<number>();
    for (let budget = Math.max(50, count * 10); picked.size < count && budget > 0 && tried.size < span; ) {
      const batch: number[] = [];
      while (batch.length < Math.min(DRAW_CONCURRENCY, count - picked.size, budget) && tried.size < span) {
        // An ID drawn before moves on to the next one not yet tried, so every draw counts.
        let offset = Math.min(span - 1, Math.floor(random() * span));
        while (tried.has(lowest + offset)) offset = (offset + 1) % span;
        const id = lowest + offset;
        tried.add(id);
        batch.push(id);
      }
      budget -= batch.length;
      const records = await Promise.all(batch.map((id) => source.get(entity, String(id))));
      for (const record of records) if (record && moves(record) && picked.size < count) picked.set(record.sourceId, envelopeOf(entity, record));
    }
    if (picked.size === count) return [...picked.values()];
  }
  const candidates: Envelope<E>[] = [];
  let read = 0;
  for await (const page of source.read(entity, null)) {
    for (const e of page.records) {
      read += 1;
      if (e.op === 'upsert' && !picked.has(e.sourceId) && moves(e.record)) candidates.push(e);
    }
    if (read >= from.pool) break;
  }
  return [...picked.values(), ...sample(candidates, count - picked.size, random)];
}

/** The source as the pipeline sees it during a demo: picked records, whole small streams, the rest on demand. */
function demoSource(source: Connector, picked: Map<EntityName, Envelope[]>): Connector {
  const read = async function* <E extends EntityName>(entity: E, state: StreamState | null, options?: ReadOptions): AsyncIterable<Page<E>> {
    const chosen = picked.get(entity);
    if (chosen) {
      if (chosen.length > 0) yield { records: chosen as Envelope<E>[], state: { cursor: null, coveredUntil: null } };
      return;
    }
    // Everything else arrives on the fly, when a picked record references it.
    if (READ_WHOLE.has(entity)) yield* source.read(entity, state, options);
  };
  return new Proxy(source, {
    get(target, prop) {
      if (prop === 'read') return read;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The ledger, noting each record's latest attempt in this run for the report. */
function recordingLedger(ledger: Ledger, attempts: Map<string, LoadAttempt>): Ledger {
  return new Proxy(ledger, {
    get(target, prop) {
      if (prop === 'recordAttempt') {
        return (attempt: LoadAttempt) => {
          attempts.set(`${attempt.entity}:${attempt.sourceId}`, attempt);
          return target.recordAttempt(attempt);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Field-by-field comparison of a planned (target-ID) record and what the target returned. */
export function fieldChecks(entity: EntityName, planned: EntityTypes[EntityName], onTarget: EntityTypes[EntityName], limitations: readonly { entity: EntityName; field: string; description: string }[]): FieldCheck[] {
  const expected = project(entity, planned);
  const actual = project(entity, onTarget);
  const own = limitations.filter((l) => l.entity === entity);
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
  return keys.map((field) => {
    const differences = diffProjections(expected[field], actual[field], field);
    const limits = own.filter((l) => l.field === field || l.field.startsWith(`${field}.`));
    const covered = (path: string) => limits.some((l) => pathUnder(path.replace(/\.length$/, ''), l.field));
    const status: FieldCheck['status'] = differences.length === 0 ? 'ok' : differences.every((d) => covered(d.path)) ? 'lost' : 'differs';
    return {
      field,
      status,
      expected: expected[field],
      actual: actual[field],
      differences,
      limitations: limits.map((l) => `${l.field}: ${l.description}`),
    };
  });
}

interface Selection {
  tickets: string[];
  articles: string[];
}

/**
 * Moves a sample of tickets and articles (with what they reference) through the migration's own
 * pipeline — mapper, loader, id map, ledger — as a `demo` run, then reads each back from the target
 * and checks it field by field. Upserts go by source ID, so a re-run updates what an earlier demo
 * (or migration) created.
 */
export async function runDemo(runtime: Runtime, mapping: PreflightReport, options: DemoOptions = {}): Promise<DemoReport> {
  const { source, target, ledger, config } = runtime;
  const count = options.count ?? 20;
  const pool = options.pool ?? Math.max(100, count * 10);
  const random = options.random ?? Math.random;
  const selectionFile = join(runtime.stateDir, 'demo', 'selection.json');
  const given = Boolean(options.tickets?.length || options.articles?.length);
  let selection: DemoReport['selection'] = given ? 'given' : 'random';
  let previous: Selection | null = null;
  if (!given && !options.resample && existsSync(selectionFile)) {
    previous = JSON.parse(readFileSync(selectionFile, 'utf8')) as Selection;
    selection = 'previous';
  }
  const kbWanted = target.capabilities.entities.includes('kbArticle') && config.entities.includes('kbArticle') && !config.options.skipKb;
  const ticketsWanted = config.entities.includes('ticket') || Boolean(options.tickets?.length);
  const drawing = !given && selection === 'random';
  const ticketRange = drawing && ticketsWanted ? await drawRange(source, 'ticket', pool) : null;
  options.step?.(
    given
      ? 'reading the named records from the source…'
      : selection === 'previous'
        ? "re-reading the previous demo's records…"
        : `picking ${count} tickets ${ticketRange ? `by ID across ${ticketRange.lowest}–${ticketRange.highest}` : `among the first ${pool}`} and ${count} articles among the first ${pool}…`,
  );
  const tickets = ticketsWanted ? await pick(runtime, 'ticket', previous?.tickets ?? options.tickets, given ? 0 : count, { pool, range: ticketRange }, random) : [];
  const articles = kbWanted || options.articles?.length ? await pick(runtime, 'kbArticle', previous?.articles ?? options.articles, given ? 0 : count, { pool, range: null }, random) : [];

  await Promise.all([source.check(), target.check()]);
  const startedAt = new Date().toISOString();
  const runId = `demo-${startedAt.replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
  const run: RunInfo = { migration: config.name, runId, kind: 'demo', status: 'running', startedAt, finishedAt: null, cutoff: null, summary: {} };
  await ledger.saveRun(run);

  const picked = new Map<EntityName, Envelope[]>([
    ['ticket', tickets],
    ['kbArticle', articles],
  ]);
  for (const entity of ['group', 'organization', 'contact', 'kbCategory', 'kbSection'] as const) picked.set(entity, []);
  const attempts = new Map<string, LoadAttempt>();
  const reassignedUsers = new Set<string>();
  const events = { reassigned: (id: string) => void reassignedUsers.add(id) };
  const deps = { ...runtime.deps(events, options.signal), source: demoSource(source, picked), ledger: recordingLedger(ledger, attempts) };
  const counts: RunResult['counts'] = {};
  options.step?.(`moving ${tickets.length} tickets and ${articles.length} articles with what they reference (run ${runId})…`);
  try {
    await runEntities(deps, run, counts, [], { detectConflicts: false }, async () => null, async () => {});
    run.status = 'succeeded';
  } catch (err) {
    run.status = 'failed';
    run.summary = { error: toHdmError(err).message };
    throw err;
  } finally {
    run.finishedAt = new Date().toISOString();
    run.summary = { ...run.summary, counts, tickets: tickets.map((t) => t.sourceId), articles: articles.map((a) => a.sourceId) };
    await ledger.flush();
    await ledger.saveRun(run);
  }
  await addUnmatched(mapping, reassignedUsers, source);
  privateDir(join(runtime.stateDir, 'demo'));
  writeFileSync(selectionFile, JSON.stringify({ tickets: tickets.map((t) => t.sourceId), articles: articles.map((a) => a.sourceId) } satisfies Selection), { mode: PRIVATE_FILE });

  options.step?.('reading each record back from the target and checking it field by field…');
  // Read back, the way verification does: map again, resolve through the id map, compare with the target.
  const ids = new IdMapCache(ledger);
  const defaultAgent = await pickDefaultAgent({ source, target, defaultAgentEmail: config.options.defaultAgentEmail }, ids);
  const resolver = new ReferenceResolver(ids, () => defaultAgent.current());
  const records: DemoRecord[] = [];
  const reassigned: DemoReport['reassigned'] = [];
  for (const envelope of [...tickets, ...articles]) {
    if (envelope.op !== 'upsert') continue;
    const { entity, sourceId } = envelope;
    const attempt = attempts.get(`${entity}:${sourceId}`);
    const stamp = recordStamp(source.platform, sourceId);
    const entry: DemoRecord = {
      entity,
      sourceId,
      sourceUrl: source.recordUrl(entity, sourceId),
      targetId: attempt?.targetId ?? null,
      targetUrl: attempt?.targetId ? target.recordUrl(entity, attempt.targetId) : null,
      stamp,
      carriesSourceId: null,
      outcome: attempt?.outcome ?? 'failed',
      action: attempt?.action ?? 'none',
      rule: attempt?.rule ?? null,
      error: attempt?.errorMessage ?? (attempt ? null : 'no load attempt was recorded'),
      notes: [],
      checks: [],
    };
    records.push(entry);
    const mapped = mapRecord(entity, envelope.record, runtime.rules);
    if (mapped.kind === 'filtered' || entry.outcome !== 'loaded' || !entry.targetId) continue;
    try {
      const resolved = await resolver.resolve(entity, mapped.record);
      entry.notes = [...mapped.notes, ...resolved.notes];
      for (const note of resolved.notes) if (note.includes('default agent')) reassigned.push({ sourceId, detail: `${entity} ${sourceId}: ${note}` });
      const onTarget = await target.get(entity, entry.targetId);
      if (!onTarget) {
        entry.error = `the target has no ${entity} ${entry.targetId}`;
        continue;
      }
      entry.checks = fieldChecks(entity, resolved.record, onTarget, target.limitations);
      // The mapped record, not the resolved one: its comment authors are still the source's, as in the header.
      if (entity === 'ticket') entry.originals = keptOriginals(mapped.record as Ticket, onTarget as Ticket, runtime.rules);
      const found = await target.find(entity, resolved.record, stamp).catch(() => null);
      entry.carriesSourceId = found?.targetId === entry.targetId;
    } catch (err) {
      entry.error = `could not check: ${toHdmError(err).message}`;
    }
  }
  const loaded: DemoReport['loaded'] = {};
  for (const a of attempts.values()) {
    const key = a.outcome === 'loaded' ? a.action : a.outcome;
    loaded[a.entity] = { ...loaded[a.entity], [key]: (loaded[a.entity]?.[key] ?? 0) + 1 };
  }
  const finishedAt = new Date().toISOString();
  const ok = records.every((r) => r.outcome !== 'failed' && !r.error && r.checks.every((c) => c.status !== 'differs'));
  return {
    runId,
    migration: config.name,
    source: { platform: source.platform },
    target: { platform: target.platform },
    startedAt,
    finishedAt,
    selection,
    records,
    counts,
    loaded,
    mapping,
    reassigned,
    limitations: target.limitations.map((l) => ({ entity: l.entity, field: l.field, description: l.description })),
    ok,
  };
}

/** What a ticket's target copy keeps of its original creation time and author, as the mapper planned them. */
function keptOriginals(planned: Ticket, onTarget: Ticket, rules: MappingRules): string[] | undefined {
  const originals = rules.capabilities.setsOwnTimes ? rules.originals : undefined;
  if (!originals || (!originals.field && !originals.header)) return undefined;
  const out: string[] = [];
  if (originals.field) {
    const value = onTarget.customFields[ORIGINAL_CREATED_FIELD];
    out.push(`${ORIGINAL_CREATED_FIELD}: ${value === undefined || value === null ? `missing (planned ${String(planned.customFields[ORIGINAL_CREATED_FIELD])})` : String(value)}`);
  }
  const first = planned.comments[0];
  if (originals.header && first) {
    const header = originalHeaderText(first, originals);
    const kept = htmlText(onTarget.comments[0]?.body ?? '').startsWith(htmlText(`<p>${header}</p>`));
    out.push(`header: "${header}"${kept ? '' : ' (missing on the target)'}`);
  }
  return out;
}
