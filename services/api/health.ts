import type { HttpStats, LastRetry } from '../../connectors/sdk/http.ts';

/** Counters of one side's HTTP client at one instant. */
interface Reading {
  at: number;
  requests: number;
  rateLimited: number;
  serverErrors: number;
  retries: number;
}

/** What one side of a migration looks like to an operator: its pace against its limit, and what it is waiting for. */
export interface SideHealth {
  side: 'source' | 'target';
  platform: string;
  /** The requests per minute the engine may send: the migration file's ceiling when lower, else the platform's. */
  limitPerMinute: number;
  limitFrom: 'config' | 'platform';
  /** Over the window below. */
  requestsPerMinute: number;
  rateLimitedPerMinute: number;
  serverErrorsPerMinute: number;
  retriesPerMinute: number;
  /** Seconds the rates above cover (up to 60; less just after the API started). */
  windowSeconds: number;
  totals: { requests: number; rateLimited: number; serverErrors: number; retries: number };
  /** Requests left in the platform's window, as it last reported. */
  remaining: number | null;
  /** While a 429 is being waited out: when requests go again (ISO). */
  rateLimitedUntil: string | null;
  /** The latest retry, when it is recent (within the window). */
  lastRetry: (Omit<LastRetry, 'at' | 'nextAt'> & { at: string; nextAt: string }) | null;
}

export interface Stall {
  /** Seconds without any record moving. */
  seconds: number;
  /** `rate-limit`: a platform's limit is being waited out; `server-errors`: a platform answers 5xx and is retried; `unknown`: neither. */
  cause: 'rate-limit' | 'server-errors' | 'retrying' | 'unknown';
  /** For the operator: "waiting for Freshdesk's rate limit, resets in 41 s". */
  reason: string;
}

export interface Health {
  now: string;
  running: boolean;
  /** When the current or last run's pipeline last reported a record or a phase (ISO), or null. */
  lastActivityAt: string | null;
  sides: SideHealth[];
  /** What the run is waiting for now, when anything (even while records still move). */
  waitingFor: string | null;
  /** Set when a running run has moved no record for `stallSeconds` or more. */
  stall: Stall | null;
}

const PLATFORM_NAMES: Record<string, string> = { zendesk: 'Zendesk', freshdesk: 'Freshdesk', rt: 'Request Tracker', files: 'the files' };
export const platformName = (platform: string): string => PLATFORM_NAMES[platform] ?? platform;

/** Seconds without a record moving before a running run counts as stalled. */
export const STALL_SECONDS = 15;
const WINDOW_MS = 60_000;

export interface SideInput {
  side: 'source' | 'target';
  platform: string;
  stats: HttpStats | null;
  platformLimit: number;
  /** The migration file's `requestsPerMinute`, 0 for none. */
  configuredLimit: number;
}

/**
 * Keeps a minute of each side's HTTP counters, so rates are per minute over a stated window, and says
 * why a run is stalled from what the clients are waiting for.
 */
export class HealthMonitor {
  private readonly readings = new Map<string, Reading[]>();

  /** Takes a reading of each side's counters. */
  sample(sides: SideInput[], now = Date.now()): void {
    for (const s of sides) {
      if (!s.stats) continue;
      const list = this.readings.get(s.side) ?? [];
      list.push({ at: now, requests: s.stats.requests, rateLimited: s.stats.rateLimited, serverErrors: s.stats.serverErrors ?? 0, retries: s.stats.retries });
      // One reading older than the window stays, as the start of the window.
      while (list.length > 2 && list[1].at <= now - WINDOW_MS) list.shift();
      this.readings.set(s.side, list);
    }
  }

  /** Forgets the readings (the runtime closed: its counters start again from zero). */
  reset(): void {
    this.readings.clear();
  }

  health(sides: SideInput[], run: { running: boolean; lastActivityAt: number | null }, now = Date.now(), stallSeconds = STALL_SECONDS): Health {
    this.sample(sides, now);
    const out: SideHealth[] = [];
    for (const s of sides) {
      if (!s.stats) continue;
      const list = this.readings.get(s.side)!;
      const first = list[0];
      const last = list[list.length - 1];
      const span = Math.max(1, last.at - first.at);
      const perMinute = (key: keyof Omit<Reading, 'at'>) => (list.length < 2 ? 0 : Math.round((((last[key] - first[key]) * 60_000) / span) * 10) / 10);
      const fromConfig = s.configuredLimit > 0 && s.configuredLimit < s.platformLimit;
      const retry = s.stats.lastRetry;
      out.push({
        side: s.side,
        platform: s.platform,
        limitPerMinute: fromConfig ? s.configuredLimit : s.platformLimit,
        limitFrom: fromConfig ? 'config' : 'platform',
        requestsPerMinute: perMinute('requests'),
        rateLimitedPerMinute: perMinute('rateLimited'),
        serverErrorsPerMinute: perMinute('serverErrors'),
        retriesPerMinute: perMinute('retries'),
        windowSeconds: list.length < 2 ? 0 : Math.round(span / 1000),
        totals: { requests: s.stats.requests, rateLimited: s.stats.rateLimited, serverErrors: s.stats.serverErrors ?? 0, retries: s.stats.retries },
        remaining: s.stats.remaining,
        rateLimitedUntil: s.stats.rateLimitedUntil && s.stats.rateLimitedUntil > now ? new Date(s.stats.rateLimitedUntil).toISOString() : null,
        lastRetry: retry && retry.at >= now - WINDOW_MS ? { ...retry, at: new Date(retry.at).toISOString(), nextAt: new Date(retry.nextAt).toISOString() } : null,
      });
    }
    const waiting = waitingFor(sides, now);
    const idle = run.lastActivityAt === null ? 0 : (now - run.lastActivityAt) / 1000;
    const stall: Stall | null =
      run.running && idle >= stallSeconds
        ? { seconds: Math.round(idle), cause: waiting?.cause ?? 'unknown', reason: waiting?.reason ?? `no record has moved for ${Math.round(idle)} s, and no request is waiting on a platform` }
        : null;
    return {
      now: new Date(now).toISOString(),
      running: run.running,
      lastActivityAt: run.lastActivityAt === null ? null : new Date(run.lastActivityAt).toISOString(),
      sides: out,
      waitingFor: run.running ? (waiting?.reason ?? null) : null,
      stall,
    };
  }
}

const inSeconds = (ms: number) => `${Math.max(1, Math.ceil(ms / 1000))} s`;

/**
 * What the clients wait for at `now`: a 429 being waited out comes first (every request of that side
 * waits), then a retry due soon after a 5xx or a network failure.
 */
export function waitingFor(sides: Pick<SideInput, 'side' | 'platform' | 'stats'>[], now: number): { cause: Stall['cause']; reason: string } | null {
  for (const s of sides) {
    const until = s.stats?.rateLimitedUntil ?? 0;
    if (until > now) return { cause: 'rate-limit', reason: `waiting for ${platformName(s.platform)}'s rate limit (${s.side}), resets in ${inSeconds(until - now)}` };
  }
  for (const s of sides) {
    const r = s.stats?.lastRetry;
    if (!r || r.code === 'RATE_LIMITED' || r.nextAt < now - 1_000) continue;
    const what = r.httpStatus !== null && r.httpStatus >= 500 ? `answering ${r.httpStatus}` : `failing (${r.code})`;
    const when = r.nextAt > now ? `in ${inSeconds(r.nextAt - now)}` : 'now';
    return {
      cause: r.httpStatus !== null && r.httpStatus >= 500 ? 'server-errors' : 'retrying',
      reason: `${s.side} ${platformName(s.platform)} ${what}, retry ${r.attempt} ${when}`,
    };
  }
  return null;
}
