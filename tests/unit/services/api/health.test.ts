import { describe, expect, it } from 'vitest';
import type { HttpStats } from '../../../../connectors/sdk/http.ts';
import { HealthMonitor, waitingFor } from '../../../../services/api/health.ts';

const stats = (over: Partial<HttpStats> = {}): HttpStats => ({ requests: 0, rateLimited: 0, retries: 0, serverErrors: 0, remaining: null, rateLimitedUntil: null, lastRetry: null, ...over });
const side = (s: HttpStats, platform = 'freshdesk') => ({ side: 'target' as const, platform, stats: s, platformLimit: 200, configuredLimit: 0 });

describe('health', () => {
  it('names the platform whose rate limit is waited out and when it resets', () => {
    expect(waitingFor([side(stats({ rateLimitedUntil: 1_041_000 }))], 1_000_000)).toEqual({ cause: 'rate-limit', reason: "waiting for Freshdesk's rate limit (target), resets in 41 s" });
  });

  it('names a target answering 5xx and the retry to come', () => {
    const lastRetry = { at: 999_000, code: 'SERVER_ERROR', httpStatus: 503, method: 'POST', path: '/api/v2/tickets', attempt: 3, nextAt: 1_008_000 };
    expect(waitingFor([side(stats({ lastRetry }))], 1_000_000)).toEqual({ cause: 'server-errors', reason: 'target Freshdesk answering 503, retry 3 in 8 s' });
  });

  it('gives rates per minute over the window it has, and a stall only after the stall time without records moving', () => {
    const monitor = new HealthMonitor();
    monitor.sample([side(stats({ requests: 10 }))], 0);
    const h = monitor.health([side(stats({ requests: 40, serverErrors: 2, retries: 2 }))], { running: true, lastActivityAt: 10_000 }, 30_000, 15);
    expect(h.sides[0]).toMatchObject({ requestsPerMinute: 60, serverErrorsPerMinute: 4, retriesPerMinute: 4, windowSeconds: 30, limitPerMinute: 200 });
    expect(h.stall).toMatchObject({ seconds: 20, cause: 'unknown' });
    expect(monitor.health([side(stats({ requests: 40 }))], { running: true, lastActivityAt: 25_000 }, 30_000, 15).stall).toBeNull();
  });
});
