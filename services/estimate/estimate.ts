import type { Connector, RequestCost } from '../../connectors/sdk/contract.ts';
import { HdmError } from '../../schemas/errors.ts';
import { BILLABLE_ENTITIES, LOAD_ORDER, type EntityName, type Ticket } from '../../schemas/canonical.ts';

/** How a count was obtained: the platform's count or total (one request), or by reading every record. */
export type CountMethod = 'count' | 'scan';

export interface EntityCount {
  count: number;
  method: CountMethod;
  billable: boolean;
}

export interface SideRate {
  platform: string;
  /** The ceiling the projection uses: the migration file's requestsPerMinute when set and lower, else the platform's. */
  requestsPerMinute: number;
  /** Where that number came from. */
  rateFrom: 'config' | 'platform';
  concurrency: number;
  /** Requests per minute the concurrency allows at the assumed latency. */
  concurrencyCeiling: number;
}

export interface PhaseEstimate {
  entity: EntityName;
  records: number;
  sourceRequests: number;
  targetRequests: number;
  seconds: number;
  /** What bounds the phase: a side's rate limit, or its concurrency at the assumed latency. */
  limitedBy: 'source rate limit' | 'target rate limit' | 'source concurrency' | 'target concurrency';
}

export interface Estimate {
  source: SideRate;
  target: SideRate;
  entities: Partial<Record<EntityName, EntityCount>>;
  /** Tickets, contacts, agents, organizations, groups, KB categories, sections and articles. */
  billable: number;
  /** Not billable, but the writes they cost drive the duration. */
  conversation: {
    comments: number;
    attachments: number;
    /** Tickets whose comments were read to measure these; `exact` when that was every ticket. */
    sampledTickets: number;
    exact: boolean;
  };
  /** In pipeline (load) order. */
  phases: PhaseEstimate[];
  totalSeconds: number;
  assumptions: { latencyMs: number; sampleTickets: number };
}

export interface EstimateOptions {
  entities: readonly EntityName[];
  source: { requestsPerMinute: number; concurrency: number };
  target: { requestsPerMinute: number; concurrency: number };
  /** Tickets read to measure comments and attachments per ticket. Default 100. */
  sampleTickets?: number;
  /** Round-trip time assumed per request, for the concurrency ceiling. Default 300 ms. */
  latencyMs?: number;
  /** Called while counting: per entity, records counted so far and how. */
  onProgress?(entity: EntityName, counted: number, method: CountMethod, done: boolean): void;
}

function rateOf(connector: Connector, configured: number, concurrency: number, latencyMs: number): SideRate {
  const platform = connector.rateLimit.requestsPerMinute;
  const fromConfig = configured > 0 && configured < platform;
  return {
    platform: connector.platform,
    requestsPerMinute: fromConfig ? configured : platform,
    rateFrom: fromConfig ? 'config' : 'platform',
    concurrency,
    concurrencyCeiling: Math.round((concurrency * 60_000) / latencyMs),
  };
}

interface ConversationSample {
  tickets: number;
  comments: number;
  attachments: number;
  /** The read reached the end of the stream. */
  complete: boolean;
}

function addTicket(sample: ConversationSample, ticket: Ticket): void {
  sample.tickets += 1;
  sample.comments += ticket.comments.length;
  for (const c of ticket.comments) sample.attachments += c.attachments.length;
}

/** Counts one entity: the platform's count when it has one, else a read of every record. */
async function countEntity(
  source: Connector,
  entity: EntityName,
  sample: ConversationSample,
  options: EstimateOptions,
): Promise<{ count: number; method: CountMethod }> {
  let counted: number | null | undefined;
  try {
    counted = await source.count?.(entity);
  } catch (err) {
    // A count API the account's plan or permissions refuse: read the records instead.
    if (!(err instanceof HdmError) || !['NOT_FOUND', 'REJECTED', 'INVALID_RECORD'].includes(err.code)) throw err;
    counted = null;
  }
  if (typeof counted === 'number') {
    options.onProgress?.(entity, counted, 'count', true);
    return { count: counted, method: 'count' };
  }
  let n = 0;
  for await (const page of source.read(entity, null, { overlapSeconds: 0 })) {
    for (const e of page.records) {
      if (e.op !== 'upsert') continue;
      n += 1;
      if (entity === 'ticket') addTicket(sample, e.record as Ticket);
    }
    options.onProgress?.(entity, n, 'scan', false);
  }
  if (entity === 'ticket') sample.complete = true;
  options.onProgress?.(entity, n, 'scan', true);
  return { count: n, method: 'scan' };
}

/** Reads the first tickets with their comments, to measure conversation size per ticket. */
async function sampleConversations(source: Connector, size: number): Promise<ConversationSample> {
  const sample: ConversationSample = { tickets: 0, comments: 0, attachments: 0, complete: true };
  if (size <= 0) return { ...sample, complete: false };
  for await (const page of source.read('ticket', null, { overlapSeconds: 0 })) {
    for (const e of page.records) if (e.op === 'upsert') addTicket(sample, e.record as Ticket);
    if (sample.tickets >= size) {
      sample.complete = false;
      break;
    }
  }
  return sample;
}

const requests = (cost: RequestCost | undefined, records: number, comments: number, attachments: number, reading: boolean): number => {
  if (records === 0) return reading ? 1 : 0;
  const c = cost ?? (reading ? { pageSize: 100 } : { perRecord: 1 });
  const pages = reading ? Math.ceil(records / Math.max(1, c.pageSize ?? 100)) : 0;
  return pages + records * (c.perRecord ?? 0) + Math.max(0, comments - records) * (c.perComment ?? 0) + attachments * (c.perAttachment ?? 0);
};

/** The rate each side's limit and concurrency allow, as the estimate assumes it. */
export function sideRates(
  source: Connector,
  target: Connector,
  options: Pick<EstimateOptions, 'source' | 'target' | 'latencyMs'>,
): { source: SideRate; target: SideRate } {
  const latencyMs = options.latencyMs ?? 300;
  return { source: rateOf(source, options.source.requestsPerMinute, options.source.concurrency, latencyMs), target: rateOf(target, options.target.requestsPerMinute, options.target.concurrency, latencyMs) };
}

/**
 * One phase of the projection: its requests on each side over that side's budget. Both sides work at
 * once (the loader writes while the poller reads), so a phase lasts as long as its slower side.
 */
export function projectPhase(
  source: Connector,
  target: Connector,
  rates: { source: SideRate; target: SideRate },
  entity: EntityName,
  records: number,
  comments = 0,
  attachments = 0,
): PhaseEstimate {
  const { source: sourceRate, target: targetRate } = rates;
  const sourceRpm = Math.min(sourceRate.requestsPerMinute, sourceRate.concurrencyCeiling);
  const targetRpm = Math.min(targetRate.requestsPerMinute, targetRate.concurrencyCeiling);
  const sourceRequests = requests(source.requestCosts?.read[entity], records, comments, attachments, true);
  const targetRequests = requests(target.requestCosts?.write[entity], records, comments, attachments, false);
  const sourceSeconds = (sourceRequests / sourceRpm) * 60;
  const targetSeconds = (targetRequests / targetRpm) * 60;
  const sourceBound = sourceSeconds >= targetSeconds;
  const limitedBy: PhaseEstimate['limitedBy'] = sourceBound
    ? sourceRate.requestsPerMinute <= sourceRate.concurrencyCeiling
      ? 'source rate limit'
      : 'source concurrency'
    : targetRate.requestsPerMinute <= targetRate.concurrencyCeiling
      ? 'target rate limit'
      : 'target concurrency';
  return { entity, records, sourceRequests, targetRequests, seconds: Math.max(sourceSeconds, targetSeconds), limitedBy };
}

/**
 * Counts what a migration would move and projects how long each phase takes. Both sides work at
 * once (the loader writes while the poller reads), so a phase lasts as long as its slower side: its
 * requests over the lower of that side's rate limit and what its concurrency sustains.
 */
export async function estimateMigration(source: Connector, target: Connector, options: EstimateOptions): Promise<Estimate> {
  const latencyMs = options.latencyMs ?? 300;
  const sampleTickets = options.sampleTickets ?? 100;
  const sourceRate = rateOf(source, options.source.requestsPerMinute, options.source.concurrency, latencyMs);
  const targetRate = rateOf(target, options.target.requestsPerMinute, options.target.concurrency, latencyMs);

  const sample: ConversationSample = { tickets: 0, comments: 0, attachments: 0, complete: false };
  const entities: Estimate['entities'] = {};
  for (const entity of LOAD_ORDER) {
    if (!options.entities.includes(entity)) continue;
    const { count, method } = await countEntity(source, entity, sample, options);
    entities[entity] = { count, method, billable: BILLABLE_ENTITIES.includes(entity) };
  }

  const tickets = entities.ticket?.count ?? 0;
  let conversation: Estimate['conversation'] = { comments: 0, attachments: 0, sampledTickets: 0, exact: true };
  if (tickets > 0) {
    const measured = sample.complete ? sample : await sampleConversations(source, sampleTickets);
    const exact = measured.complete && measured.tickets === tickets;
    const scale = measured.tickets > 0 ? tickets / measured.tickets : 0;
    conversation = {
      comments: exact ? measured.comments : Math.round(measured.comments * scale),
      attachments: exact ? measured.attachments : Math.round(measured.attachments * scale),
      sampledTickets: measured.tickets,
      exact,
    };
  }

  const phases: PhaseEstimate[] = [];
  for (const [entity, counted] of Object.entries(entities) as [EntityName, EntityCount][]) {
    const comments = entity === 'ticket' ? conversation.comments : 0;
    const attachments = entity === 'ticket' ? conversation.attachments : 0;
    phases.push(projectPhase(source, target, { source: sourceRate, target: targetRate }, entity, counted.count, comments, attachments));
  }

  return {
    source: sourceRate,
    target: targetRate,
    entities,
    billable: Object.values(entities).reduce((n, e) => n + (e!.billable ? e!.count : 0), 0),
    conversation,
    phases,
    totalSeconds: phases.reduce((n, p) => n + p.seconds, 0),
    assumptions: { latencyMs, sampleTickets },
  };
}
