import type { LimitTable } from '../connectors/sdk/limits.ts';

/** A sandbox limiter's count for one bucket (`BucketLimiter.stats()`). */
export interface BucketCount {
  admitted: number;
  refused: number;
  credits: number;
}

export interface BucketFigures {
  side: 'source' | 'target';
  platform: string;
  bucket: string;
  kind: 'window' | 'concurrent';
  /** Requests (credits, for a bucket that counts them) per window; jobs at once for a job cap. */
  limit: number;
  windowSeconds: number;
  /** Counted per ID (e.g. per ticket): no account-wide bound follows from the total. */
  perKey: boolean;
  requests: number;
  /** What the limit counts: credits for a credit bucket, else requests. */
  used: number;
  rateLimited: number;
  /**
   * Least wall this bucket allows for what the run drew from it (null: per-key, or a job cap without a job
   * time). A fixed window admits `limit` at once, so `used` needs `ceil(used / limit)` windows: the last one
   * opens `(ceil(used / limit) − 1) × window` after the first request.
   */
  boundSeconds: number | null;
  /** `used / limit × window`: the same at a steady rate, which the windowed bound approaches on long runs. */
  steadySeconds: number | null;
  /** `used / (limit × wall / window)`: the share of the bucket's budget over the run the run spent. */
  utilization: number | null;
}

export interface BudgetFigures {
  wallSeconds: number;
  buckets: BucketFigures[];
  /** Lower bound on wall time: the longest any bucket's windows need (see {@link BucketFigures.boundSeconds}). */
  boundSeconds: number;
  /** The binding bucket's `used / limit × window`. */
  steadySeconds: number;
  /** The bucket that sets the bound (`side/bucket`), or null when no bucket was drawn. */
  binding: string | null;
  /** `wall / bound`. */
  wallOverBound: number | null;
  /** Utilization of the binding bucket. */
  bindingUtilization: number | null;
  requests: number;
  rateLimited: number;
  /** 429s over requests that reached a limiter (admitted + refused). */
  rateLimitedShare: number;
}

const PLAN_WIDE = new Set(['account', 'help-center']);

export interface SideCounts {
  side: 'source' | 'target';
  table: LimitTable;
  stats: Record<string, BucketCount>;
  /**
   * Mean seconds a background job holds its slot, where the bench measured it: with it a job cap bounds
   * the wall too (jobs × seconds / cap). Default none.
   */
  jobSeconds?: number;
}

/**
 * Per bucket of both sides: what the run drew, the time that needs at the bucket's limit and the share of
 * the bucket's budget over the wall the run used; the lower bound on wall time is the longest of those
 * times, since every bucket's requests must pass at its rate whatever the order of the work.
 */
export function budgetFigures(sides: SideCounts[], wallSeconds: number): BudgetFigures {
  const buckets: BucketFigures[] = [];
  for (const { side, table, stats, jobSeconds } of sides) {
    for (const b of table.buckets) {
      const count = stats[b.name] ?? { admitted: 0, refused: 0, credits: 0 };
      const kind = b.kind ?? 'window';
      const used = b.countsCredits ? count.credits : count.admitted;
      let boundSeconds: number | null = null;
      let steadySeconds: number | null = null;
      let utilization: number | null = null;
      if (kind === 'window' && !b.perKey && b.limit > 0) {
        steadySeconds = (used / b.limit) * b.windowSeconds;
        boundSeconds = used > 0 ? (Math.ceil(used / b.limit) - 1) * b.windowSeconds : 0;
        utilization = wallSeconds > 0 ? used / ((b.limit * wallSeconds) / b.windowSeconds) : null;
      } else if (kind === 'concurrent' && jobSeconds !== undefined && b.limit > 0) {
        boundSeconds = steadySeconds = (count.admitted * jobSeconds) / b.limit;
        utilization = wallSeconds > 0 ? boundSeconds / wallSeconds : null;
      }
      buckets.push({
        side,
        platform: table.platform,
        bucket: b.name,
        kind,
        limit: b.limit,
        windowSeconds: b.windowSeconds,
        perKey: b.perKey === 'id',
        requests: count.admitted,
        used,
        rateLimited: count.refused,
        boundSeconds,
        steadySeconds,
        utilization,
      });
    }
  }
  // The binding bucket: the one needing the longest at a steady rate (ties in windows go to the fuller one).
  let binding: BucketFigures | null = null;
  for (const b of buckets) if (b.steadySeconds !== null && b.steadySeconds > 0 && (!binding || b.steadySeconds > binding.steadySeconds!)) binding = b;
  const boundSeconds = Math.max(0, ...buckets.map((b) => b.boundSeconds ?? 0));
  const steadySeconds = binding?.steadySeconds ?? 0;
  // A request is admitted by every bucket it draws: count each once, by the plan-wide buckets (Zendesk's Help Center is apart from its account).
  const requests = buckets.filter((b) => PLAN_WIDE.has(b.bucket)).reduce((n, b) => n + b.requests, 0);
  const rateLimited = buckets.reduce((n, b) => n + b.rateLimited, 0);
  return {
    wallSeconds,
    buckets,
    boundSeconds,
    steadySeconds,
    binding: binding ? `${binding.side}/${binding.bucket}` : null,
    wallOverBound: boundSeconds > 0 ? wallSeconds / boundSeconds : null,
    bindingUtilization: binding?.utilization ?? null,
    requests,
    rateLimited,
    rateLimitedShare: requests + rateLimited > 0 ? rateLimited / (requests + rateLimited) : 0,
  };
}

/** Requests per canonical record, route by route (`GET /api/v2/tickets/:id/comments.json` → 1.8). */
export function requestsPerRecord(byRoute: Record<string, number>, canonicalRecords: number): { route: string; requests: number; perRecord: number }[] {
  return Object.entries(byRoute)
    .filter(([route]) => !route.includes('/__sandbox'))
    .map(([route, requests]) => ({ route, requests, perRecord: canonicalRecords > 0 ? requests / canonicalRecords : 0 }))
    .sort((a, b) => b.requests - a.requests);
}
