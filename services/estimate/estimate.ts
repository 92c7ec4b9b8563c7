import type { Connector, CostRoute, RequestCost } from '../../connectors/sdk/contract.ts';
import { bucketMatcher, creditsOf, type LimitBucket, type LimitedRequest } from '../../connectors/sdk/limits.ts';
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
  /** The limit that bounds it: `side/bucket` of the limit table (`target/ticket-create`), `side/requestsPerMinute` for the migration file's ceiling, `side/concurrency`. */
  bucket: string;
  /** Per limit bucket this phase draws from: requests and what the bucket counts (credits where it counts them). */
  buckets: BucketUse[];
}

export interface BucketUse {
  side: 'source' | 'target';
  bucket: string;
  requests: number;
  /** Requests, or credits for a bucket that counts credits. */
  used: number;
}

/** One limit bucket over the whole projection. */
export interface BucketEstimate extends BucketUse {
  /** Per window (credits where the bucket counts them); jobs at once for a job cap. */
  limit: number;
  windowSeconds: number;
  kind: 'window' | 'concurrent';
  /** Seconds the bucket needs for `used` at its limit (null for a job cap: its time is the jobs', not the requests'). */
  seconds: number | null;
  /** The bucket that needs the longest: no order of the work finishes before it. */
  binding: boolean;
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
    /** How the sampled tickets were chosen: every ticket, IDs spread over the whole range, or the first ones read. */
    drawn: 'all' | 'across-ids' | 'first';
  };
  /**
   * Where the source reads the comments of some tickets only with a request of their own (Zendesk
   * `source.comments: events`): how many of the sampled tickets need it, the share projected for all
   * tickets, and what the projection assumes. Null when every ticket costs the same.
   */
  perTicketReads: { needed: number; sampledTickets: number; share: number; assumption: string | null } | null;
  /** In pipeline (load) order. */
  phases: PhaseEstimate[];
  /** Per limit bucket of both sides over the whole migration, the binding one marked. */
  buckets: BucketEstimate[];
  /** `side/bucket` of the binding bucket, or null when nothing is drawn. */
  binding: string | null;
  totalSeconds: number;
  assumptions: { latencyMs: number; sampleTickets: number };
}

export interface EstimateOptions {
  entities: readonly EntityName[];
  source: { requestsPerMinute: number; concurrency: number };
  target: { requestsPerMinute: number; concurrency: number };
  /** Tickets read to measure comments and attachments per ticket. Default 300. */
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
  /** Tickets the read's `perRecordFor` says need its per-record requests. */
  perRecord: number;
  /** The read reached the end of the stream. */
  complete: boolean;
  /** Drawn across the ticket ID range rather than read from the first ticket on. */
  acrossIds?: boolean;
}

function addTicket(sample: ConversationSample, ticket: Ticket, perRecordFor?: (t: Ticket) => boolean): void {
  sample.tickets += 1;
  if (perRecordFor?.(ticket) ?? true) sample.perRecord += 1;
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
      if (entity === 'ticket') addTicket(sample, e.record as Ticket, source.requestCosts?.read.ticket?.perRecordFor);
    }
    options.onProgress?.(entity, n, 'scan', false);
  }
  if (entity === 'ticket') sample.complete = true;
  options.onProgress?.(entity, n, 'scan', true);
  return { count: n, method: 'scan' };
}

/** Tickets fetched at once while drawing a sample by ID. */
const DRAW_CONCURRENCY = 4;
/** IDs tried past a drawn one that is gone (deleted, merged, another kind of record), before giving up on it. */
const DRAW_TRIES = 3;

/**
 * Measures conversation size per ticket. A read hands out the oldest tickets first, and a helpdesk's oldest
 * tickets are seldom like the rest (a 2,000-ticket run uploaded 57% more attachments than its first 100 tickets
 * promised), so where the source can tell its ticket ID range the sample is drawn across it: `size` IDs
 * evenly spaced from the lowest to the highest, each fetched with its comments (an ID that is gone gives way
 * to the next few). Otherwise, or when the range is no larger than the sample, the first tickets.
 */
export async function sampleConversations(source: Connector, size: number): Promise<ConversationSample> {
  const sample: ConversationSample = { tickets: 0, comments: 0, attachments: 0, perRecord: 0, complete: true };
  if (size <= 0) return { ...sample, complete: false };
  const perRecordFor = source.requestCosts?.read.ticket?.perRecordFor;
  const range = source.idRange ? await source.idRange('ticket') : null;
  if (range && range.highest - range.lowest + 1 > size) {
    const drawn: ConversationSample = { ...sample, complete: false, acrossIds: true };
    const span = range.highest - range.lowest + 1;
    const starts = Array.from({ length: size }, (_, k) => range.lowest + Math.floor(((k + 0.5) * span) / size));
    for (let i = 0; i < starts.length; i += DRAW_CONCURRENCY) {
      const tickets = await Promise.all(
        starts.slice(i, i + DRAW_CONCURRENCY).map(async (start) => {
          for (let id = start; id < start + DRAW_TRIES && id <= range.highest; id++) {
            const ticket = await source.get('ticket', String(id));
            if (ticket) return ticket;
          }
          return null;
        }),
      );
      for (const t of tickets) if (t) addTicket(drawn, t, perRecordFor);
    }
    if (drawn.tickets > 0) return drawn;
  }
  for await (const page of source.read('ticket', null, { overlapSeconds: 0 })) {
    for (const e of page.records) if (e.op === 'upsert') addTicket(sample, e.record as Ticket, perRecordFor);
    if (sample.tickets >= size) {
      sample.complete = false;
      break;
    }
  }
  return sample;
}

interface Units {
  page: number;
  record: number;
  comment: number;
  attachment: number;
  commentPage: number;
}

const costOf = (cost: RequestCost | undefined, reading: boolean): RequestCost => cost ?? (reading ? { pageSize: 100 } : { perRecord: 1 });

/**
 * The units a phase's requests are counted in. `share` is the part of the records that need the per-record
 * requests, for a cost whose `perRecordFor` picks them (absent: all of them).
 */
function unitsOf(c: RequestCost, records: number, comments: number, attachments: number, reading: boolean, share?: number): Units {
  return {
    page: reading ? Math.ceil(records / Math.max(1, c.pageSize ?? 100)) : 0,
    record: c.perRecordFor && share !== undefined ? Math.round(records * share) : records,
    comment: Math.max(0, comments - records),
    attachment: attachments,
    // The list is read at least once, even when it holds nothing yet.
    commentPage: c.perCommentPage ? Math.max(1, Math.ceil(comments / Math.max(1, c.commentPageSize ?? 1000))) : 0,
  };
}

const perUnit = (c: RequestCost): Units => ({
  page: 1,
  record: c.perRecord ?? 0,
  comment: c.perComment ?? 0,
  attachment: c.perAttachment ?? 0,
  commentPage: c.perCommentPage ?? 0,
});

const requests = (cost: RequestCost | undefined, records: number, comments: number, attachments: number, reading: boolean, share?: number): number => {
  if (records === 0) return reading ? 1 : 0;
  const c = costOf(cost, reading);
  const u = unitsOf(c, records, comments, attachments, reading, share);
  const per = perUnit(c);
  return (reading ? u.page : 0) + u.record * per.record + u.comment * per.comment + u.attachment * per.attachment + u.commentPage * per.commentPage;
};

/** The buckets one side paces by: its limit table with the limits held now, or one account bucket of its rate limit. */
export interface SideBuckets {
  side: 'source' | 'target';
  buckets: { bucket: LimitBucket; limit: number; draws: (req: LimitedRequest) => boolean }[];
  credits: (req: LimitedRequest) => number;
}

export function sideBuckets(side: 'source' | 'target', connector: Connector): SideBuckets {
  const now = connector.limitsNow?.() ?? null;
  if (!now) {
    const bucket: LimitBucket = { name: 'account', description: 'requests per minute', matches: [{ method: '*', path: '/**' }], limit: connector.rateLimit.requestsPerMinute, windowSeconds: 60 };
    return { side, buckets: [{ bucket, limit: bucket.limit, draws: () => true }], credits: () => 1 };
  }
  return {
    side,
    // A bucket the client does not pace ahead of a 429 is still the platform's: project it at the table's limit.
    buckets: now.table.buckets.map((bucket) => ({ bucket, limit: now.limits[bucket.name] ?? bucket.limit, draws: bucketMatcher(bucket) })),
    credits: (req) => creditsOf(now.table, req),
  };
}

const requestOf = (route: CostRoute): LimitedRequest => ({ method: route.method, path: route.path, query: new URLSearchParams(route.query ?? '') });

/** What a phase draws from each bucket of one side: each declared route's buckets; requests no route names, the account's. */
function bucketUse(sb: SideBuckets, cost: RequestCost | undefined, records: number, comments: number, attachments: number, reading: boolean, share?: number): BucketUse[] {
  const use = new Map<string, BucketUse>();
  const add = (name: string, n: number, used: number) => {
    if (n <= 0) return;
    const u = use.get(name) ?? { side: sb.side, bucket: name, requests: 0, used: 0 };
    u.requests += n;
    u.used += used;
    use.set(name, u);
  };
  const total = requests(cost, records, comments, attachments, reading, share);
  if (total === 0) return [];
  const c = costOf(cost, reading);
  const units = records === 0 ? { page: 1, record: 0, comment: 0, attachment: 0, commentPage: 0 } : unitsOf(c, records, comments, attachments, reading, share);
  let routed = 0;
  for (const route of c.routes ?? []) {
    const n = units[route.per] * (route.count ?? 1);
    if (n <= 0) continue;
    routed += n;
    const req = requestOf(route);
    const credits = sb.credits(req);
    for (const b of sb.buckets) if (b.draws(req)) add(b.bucket.name, n, b.bucket.countsCredits ? n * credits : n);
  }
  const rest = total - routed;
  const account = sb.buckets.find((b) => b.bucket.name === 'account');
  if (account && rest > 0) add('account', rest, rest);
  return [...use.values()];
}

const PLAN_WIDE = new Set(['account', 'help-center']);

/**
 * Seconds a bucket needs for `used` at its limit; null for job caps and per-ID buckets, whose time the
 * requests alone do not set. With `burst`, an endpoint bucket (one the phase draws in a burst while the rest
 * of the run leaves it idle) starts the phase with a whole window to spend: a fixed window admits `limit`
 * at once, so only what is past it waits. The plan-wide buckets are drawn by every phase and get none.
 */
function bucketSeconds(b: SideBuckets['buckets'][number], used: number, burst = false): number | null {
  if (b.bucket.kind === 'concurrent' || b.bucket.perKey || b.limit <= 0) return null;
  const waiting = burst && !PLAN_WIDE.has(b.bucket.name) ? Math.max(0, used - b.limit) : used;
  return (waiting / b.limit) * b.bucket.windowSeconds;
}

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
 * One phase of the projection. Both sides work at once (the loader writes while the poller reads), so a
 * phase lasts as long as the slowest of: each limit bucket of either side for what the phase draws from
 * it, each side's requests under the migration file's ceiling, and what each side's concurrency sustains.
 * `perRecordShare`: the part of the records the source read spends its per-record requests on, where its
 * cost picks them (`perRecordFor`); absent, all of them.
 */
export function projectPhase(
  source: Connector,
  target: Connector,
  rates: { source: SideRate; target: SideRate },
  entity: EntityName,
  records: number,
  comments = 0,
  attachments = 0,
  buckets?: { source: SideBuckets; target: SideBuckets },
  perRecordShare?: number,
): PhaseEstimate {
  const sides = buckets ?? { source: sideBuckets('source', source), target: sideBuckets('target', target) };
  const sourceRequests = requests(source.requestCosts?.read[entity], records, comments, attachments, true, perRecordShare);
  const targetRequests = requests(target.requestCosts?.write[entity], records, comments, attachments, false);
  const uses = [
    ...bucketUse(sides.source, source.requestCosts?.read[entity], records, comments, attachments, true, perRecordShare),
    ...bucketUse(sides.target, target.requestCosts?.write[entity], records, comments, attachments, false),
  ];
  const candidates: { seconds: number; bucket: string; limitedBy: PhaseEstimate['limitedBy'] }[] = [];
  for (const u of uses) {
    const b = sides[u.side].buckets.find((x) => x.bucket.name === u.bucket)!;
    const seconds = bucketSeconds(b, u.used, true);
    if (seconds !== null) candidates.push({ seconds, bucket: `${u.side}/${u.bucket}`, limitedBy: `${u.side} rate limit` });
  }
  for (const [side, rate, n] of [
    ['source', rates.source, sourceRequests],
    ['target', rates.target, targetRequests],
  ] as const) {
    if (rate.rateFrom === 'config') candidates.push({ seconds: (n / rate.requestsPerMinute) * 60, bucket: `${side}/requestsPerMinute`, limitedBy: `${side} rate limit` });
    candidates.push({ seconds: (n / rate.concurrencyCeiling) * 60, bucket: `${side}/concurrency`, limitedBy: `${side} concurrency` });
  }
  // Ties go to the earlier candidate: a bucket before the ceilings, the source before the target.
  const slowest = candidates.reduce((a, b) => (b.seconds > a.seconds ? b : a), { seconds: 0, bucket: 'source/account', limitedBy: 'source rate limit' as PhaseEstimate['limitedBy'] });
  return { entity, records, sourceRequests, targetRequests, seconds: slowest.seconds, limitedBy: slowest.limitedBy, bucket: slowest.bucket, buckets: uses };
}

/** Per bucket of both sides over all phases, the one needing the longest marked as binding. */
export function bucketTotals(phases: PhaseEstimate[], sides: { source: SideBuckets; target: SideBuckets }): BucketEstimate[] {
  const out: BucketEstimate[] = [];
  for (const sb of [sides.source, sides.target]) {
    for (const b of sb.buckets) {
      let requests = 0;
      let used = 0;
      for (const p of phases) {
        for (const u of p.buckets) {
          if (u.side !== sb.side || u.bucket !== b.bucket.name) continue;
          requests += u.requests;
          used += u.used;
        }
      }
      if (requests === 0) continue;
      out.push({ side: sb.side, bucket: b.bucket.name, requests, used, limit: b.limit, windowSeconds: b.bucket.windowSeconds, kind: b.bucket.kind ?? 'window', seconds: bucketSeconds(b, used), binding: false });
    }
  }
  let binding: BucketEstimate | null = null;
  for (const b of out) if (b.seconds !== null && (!binding || b.seconds > binding.seconds!)) binding = b;
  if (binding) binding.binding = true;
  return out;
}

/**
 * Counts what a migration would move and projects how long each phase takes. Both sides work at
 * once (the loader writes while the poller reads), so a phase lasts as long as its slower side: its
 * requests over the lower of that side's rate limit and what its concurrency sustains.
 */
export async function estimateMigration(source: Connector, target: Connector, options: EstimateOptions): Promise<Estimate> {
  const latencyMs = options.latencyMs ?? 300;
  const sampleTickets = options.sampleTickets ?? 300;
  const sourceRate = rateOf(source, options.source.requestsPerMinute, options.source.concurrency, latencyMs);
  const targetRate = rateOf(target, options.target.requestsPerMinute, options.target.concurrency, latencyMs);

  const sample: ConversationSample = { tickets: 0, comments: 0, attachments: 0, perRecord: 0, complete: false };
  const entities: Estimate['entities'] = {};
  for (const entity of LOAD_ORDER) {
    if (!options.entities.includes(entity)) continue;
    const { count, method } = await countEntity(source, entity, sample, options);
    entities[entity] = { count, method, billable: BILLABLE_ENTITIES.includes(entity) };
  }

  const tickets = entities.ticket?.count ?? 0;
  let conversation: Estimate['conversation'] = { comments: 0, attachments: 0, sampledTickets: 0, exact: true, drawn: 'all' };
  const ticketRead = source.requestCosts?.read.ticket;
  let perTicketReads: Estimate['perTicketReads'] = null;
  if (tickets > 0) {
    const measured = sample.complete ? sample : await sampleConversations(source, sampleTickets);
    if (ticketRead?.perRecordFor) {
      // Without a sampled ticket nothing is known: every ticket is counted as needing its own read.
      const share = measured.tickets > 0 ? measured.perRecord / measured.tickets : 1;
      perTicketReads = { needed: measured.perRecord, sampledTickets: measured.tickets, share, assumption: ticketRead.assumption ?? null };
    }
    const exact = measured.complete && measured.tickets === tickets;
    const scale = measured.tickets > 0 ? tickets / measured.tickets : 0;
    conversation = {
      comments: exact ? measured.comments : Math.round(measured.comments * scale),
      attachments: exact ? measured.attachments : Math.round(measured.attachments * scale),
      sampledTickets: measured.tickets,
      exact,
      drawn: exact ? 'all' : measured.acrossIds ? 'across-ids' : 'first',
    };
  }

  const sides = { source: sideBuckets('source', source), target: sideBuckets('target', target) };
  const phases: PhaseEstimate[] = [];
  for (const [entity, counted] of Object.entries(entities) as [EntityName, EntityCount][]) {
    const comments = entity === 'ticket' ? conversation.comments : 0;
    const attachments = entity === 'ticket' ? conversation.attachments : 0;
    const share = entity === 'ticket' ? perTicketReads?.share : undefined;
    phases.push(projectPhase(source, target, { source: sourceRate, target: targetRate }, entity, counted.count, comments, attachments, sides, share));
  }
  const buckets = bucketTotals(phases, sides);
  const binding = buckets.find((b) => b.binding);

  return {
    source: sourceRate,
    target: targetRate,
    entities,
    billable: Object.values(entities).reduce((n, e) => n + (e!.billable ? e!.count : 0), 0),
    conversation,
    perTicketReads,
    phases,
    buckets,
    binding: binding ? `${binding.side}/${binding.bucket}` : null,
    totalSeconds: phases.reduce((n, p) => n + p.seconds, 0),
    assumptions: { latencyMs, sampleTickets },
  };
}
