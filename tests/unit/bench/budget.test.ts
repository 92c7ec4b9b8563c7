import { describe, expect, it } from 'vitest';
import { budgetFigures, requestsPerRecord } from '../../../bench/budget.ts';
import { freshdeskLimits } from '../../../connectors/freshdesk/freshdesk.limits.ts';
import { zendeskLimits } from '../../../connectors/zendesk/zendesk.limits.ts';

// Freshdesk Enterprise: 700 credits a minute, Ticket Create 280 a minute ("What are the rate limits for the API
// calls to Freshdesk?"); Zendesk Enterprise: 700 a minute, incremental exports 10 a minute (Rate limits page).
describe('budget bench arithmetic', () => {
  it('bounds the wall by the windows the fullest bucket needs, credits counted where the bucket counts them', () => {
    const f = budgetFigures(
      [
        {
          side: 'source',
          table: zendeskLimits('enterprise'),
          stats: { account: { admitted: 350, refused: 0, credits: 350 }, 'incremental-exports': { admitted: 5, refused: 1, credits: 5 } },
        },
        {
          side: 'target',
          table: freshdeskLimits('enterprise'),
          // 1,050 requests costing 1,500 credits (some with `include`), 420 of them ticket creates.
          stats: { account: { admitted: 1050, refused: 2, credits: 1500 }, 'ticket-create': { admitted: 420, refused: 3, credits: 420 } },
        },
      ],
      150,
    );
    const bucket = (side: string, name: string) => f.buckets.find((b) => b.side === side && b.bucket === name)!;
    // At a steady rate: 1,500 credits at 700 a minute take 128.6 s; 420 creates at 280 a minute 90 s; 350 at 700 30 s; 5 exports at 10 30 s.
    expect(bucket('target', 'account').steadySeconds).toBeCloseTo((1500 / 700) * 60);
    expect(bucket('target', 'ticket-create').steadySeconds).toBeCloseTo(90);
    expect(bucket('source', 'account').steadySeconds).toBeCloseTo(30);
    expect(bucket('source', 'incremental-exports').steadySeconds).toBeCloseTo(30);
    // A fixed window admits its whole limit at once: 1,500 credits need 3 windows, the third opening at 120 s;
    // 420 creates need 2 (60 s); one window's worth needs none past the first request.
    expect(bucket('target', 'account').boundSeconds).toBe(120);
    expect(bucket('target', 'ticket-create').boundSeconds).toBe(60);
    expect(bucket('source', 'account').boundSeconds).toBe(0);
    expect(f.boundSeconds).toBe(120);
    expect(f.steadySeconds).toBeCloseTo((1500 / 700) * 60);
    expect(f.binding).toBe('target/account');
    expect(f.wallOverBound).toBeCloseTo(150 / 120);
    // Utilization: used / (limit × wall minutes): 1,500 / (700 × 2.5) = 0.857; 420 / (280 × 2.5) = 0.6.
    expect(f.bindingUtilization).toBeCloseTo(1500 / 1750);
    expect(bucket('target', 'ticket-create').utilization).toBeCloseTo(0.6);
    // Requests counted once each (by the plan-wide buckets), 429s on whichever bucket refused.
    expect(f.requests).toBe(350 + 1050);
    expect(f.rateLimited).toBe(6);
    expect(f.rateLimitedShare).toBeCloseTo(6 / 1406);
  });

  it('gives no account-wide bound for a per-ticket bucket, and bounds a job cap only with a job time', () => {
    const stats = {
      account: { admitted: 70, refused: 0, credits: 70 },
      'update-ticket-per-ticket': { admitted: 60, refused: 0, credits: 60 },
      'jobs-in-flight': { admitted: 90, refused: 0, credits: 90 },
    };
    const without = budgetFigures([{ side: 'target', table: zendeskLimits('enterprise'), stats }], 60);
    const perTicket = without.buckets.find((b) => b.bucket === 'update-ticket-per-ticket')!;
    expect(perTicket.boundSeconds).toBeNull();
    expect(without.buckets.find((b) => b.bucket === 'jobs-in-flight')!.boundSeconds).toBeNull();
    expect(without.binding).toBe('target/account');
    // 90 jobs of 40 s each through 30 slots: 120 s, more than the account's 6 s.
    const withJobs = budgetFigures([{ side: 'target', table: zendeskLimits('enterprise'), stats, jobSeconds: 40 }], 60);
    expect(withJobs.binding).toBe('target/jobs-in-flight');
    expect(withJobs.boundSeconds).toBeCloseTo(120);
    expect(withJobs.bindingUtilization).toBeCloseTo(2);
  });

  it('divides each route by the canonical records and leaves the sandbox controls out', () => {
    const rows = requestsPerRecord({ 'GET /api/v2/tickets/:id/conversations': 300, 'POST /api/v2/tickets': 100, 'GET /__sandbox/state': 4 }, 400);
    expect(rows).toEqual([
      { route: 'GET /api/v2/tickets/:id/conversations', requests: 300, perRecord: 0.75 },
      { route: 'POST /api/v2/tickets', requests: 100, perRecord: 0.25 },
    ]);
  });
});
