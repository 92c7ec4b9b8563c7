import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import { FollowSchedule, runDeltaPass } from '../../../../services/pipeline/delta.ts';
import { runFullMigration } from '../../../../services/pipeline/pipeline.ts';
import { MemorySource, sourceTicket, ticketPage } from '../../../helpers/memory-platform.ts';
import { memoryPipeline } from '../../../helpers/memory-pipeline.ts';

const at = (day: number) => `2026-07-${String(day).padStart(2, '0')}T00:00:00Z`;

describe('runDeltaPass: the cursor never moves past a failed record', () => {
  it('keeps its cursor before a change the target could not take, the next pass carries it, and a rejected record is recorded as failed before the cursor passes it', async () => {
    const source = new MemorySource();
    const { target, ledger, checkpoints, deps } = memoryPipeline(source);
    source.pages.ticket = [ticketPage('p1', [sourceTicket('1', at(1), { subject: 'First' }), sourceTicket('2', at(1))])];
    await runFullMigration(deps());

    // At the source since: ticket 1 changed, 3 is new (page p2), then 4 is new (page p3).
    source.pages.ticket.push(
      ticketPage('p2', [sourceTicket('1', at(2), { subject: 'Changed at the source' }), sourceTicket('3', at(2))]),
      ticketPage('p3', [sourceTicket('4', at(3))]),
    );
    let down = true;
    target.beforeWrite = (_op, _entity, record) => {
      if (record.sourceId === '1' && down) throw new HdmError('UNREACHABLE', 'connect ECONNREFUSED');
      if (record.sourceId === '5') throw new HdmError('REJECTED', 'subject is required', { context: { entity: 'ticket', recordId: '5', field: 'subject' } });
    };
    await expect(runDeltaPass(deps())).rejects.toMatchObject({ code: 'UNREACHABLE' });
    expect(checkpoints.cursor('delta', 'ticket')).toBe('p1');
    expect(checkpoints.data.delta?.passes).toBe(0);
    expect(target.byStamp('ticket', 'memsrc:1')[0].subject).toBe('First');

    down = false;
    const second = await runDeltaPass(deps());
    // Tickets 3 and 4 may have loaded in the stopped pass: then they are unchanged here, never created twice.
    expect(second.counts.ticket).toMatchObject({ read: 3, loaded: 3, updated: 1, failed: 0 });
    expect(checkpoints.cursor('delta', 'ticket')).toBe('p3');
    expect(target.byStamp('ticket', 'memsrc:1').map((t) => t.subject)).toEqual(['Changed at the source']);

    // A record the target refuses for itself fails with its reason; the pass goes on, and the cursor
    // passes it only once that failure is in the ledger.
    source.pages.ticket.push(ticketPage('p4', [sourceTicket('5', at(4)), sourceTicket('6', at(4))]));
    const third = await runDeltaPass(deps());
    expect(third.counts.ticket).toMatchObject({ read: 2, created: 1, failed: 1 });
    expect(checkpoints.cursor('delta', 'ticket')).toBe('p4');
    expect(await ledger.failures(10)).toEqual([expect.objectContaining({ entity: 'ticket', sourceId: '5', errorCode: 'REJECTED', errorMessage: 'subject is required' })]);

    for (const id of ['1', '2', '3', '4', '6']) expect(target.byStamp('ticket', `memsrc:${id}`), `ticket ${id}`).toHaveLength(1);
    expect(checkpoints.violations).toEqual([]);
  });
});

// Issue: a delta lag of 755 days blocked cutover after an outage: lag ran from the ticket's original update time.
describe('runDeltaPass: lag runs from when a change became visible, and retries are not lag', () => {
  it('counts a retried failure as a retry, not as lag, and times a change older than the previous read from when it was first seen', async () => {
    const source = new MemorySource();
    const { target, deps } = memoryPipeline(source);
    const longAgo = '2024-11-10T00:00:00Z';
    source.pages.ticket = [ticketPage('p1', [sourceTicket('1', at(1)), sourceTicket('2', longAgo)])];
    let outage = true;
    target.beforeWrite = (_op, _entity, record) => {
      if (record.sourceId === '2' && outage) throw new HdmError('REJECTED', 'the target answered 500 five times');
    };
    const full = await runFullMigration(deps());
    expect(full.counts.ticket).toMatchObject({ created: 1, failed: 1 });
    outage = false;

    // The next pass carries ticket 2 again at its old update time, a change made a moment ago, and a
    // record whose update time predates the full run but that the source only shows now.
    const justNow = new Date().toISOString();
    source.pages.ticket.push(ticketPage('p2', [sourceTicket('2', longAgo), sourceTicket('3', justNow), sourceTicket('4', at(2))]));
    const pass = await runDeltaPass(deps());
    expect(pass.counts.ticket).toMatchObject({ read: 3, created: 3, failed: 0, retries: 1 });
    expect(pass.lag).toMatchObject({ samples: 2 });
    expect(pass.lag!.max).toBeLessThan(60_000);
  });
});

describe('FollowSchedule: passes share a scarce bucket without starving a stream', () => {
  // A bucket of `perWindow` requests a window, one request per stream read; a stream whose turn finds it spent is deferred.
  function simulate(schedule: FollowSchedule, clock: { now: number }, passes: number, perWindow: number, windowMs: number, passMs: number) {
    const streams = ['agent', 'organization', 'contact', 'ticket'] as const;
    const reads: Record<string, number[]> = Object.fromEntries(streams.map((s) => [s, []]));
    let windowStart = clock.now;
    let used = 0;
    for (let p = 0; p < passes; p++) {
      schedule.beginPass();
      for (const entity of streams) {
        if (clock.now - windowStart >= windowMs) {
          windowStart = clock.now;
          used = 0;
        }
        const turn = schedule.turn(entity);
        if (turn === 'skip') schedule.done(entity, 'deferred');
        else if (used < perWindow || turn === 'wait') {
          if (used >= perWindow) {
            clock.now = windowStart + windowMs;
            windowStart = clock.now;
            used = 0;
          }
          used += 1;
          reads[entity]!.push(clock.now);
          schedule.done(entity, 'read');
        } else schedule.done(entity, 'deferred');
      }
      clock.now += passMs;
    }
    return reads;
  }

  it('reads every stream in turn when the bucket holds fewer reads than a pass wants, and none waits past the bound', () => {
    const clock = { now: 0 };
    const schedule = new FollowSchedule(120_000, () => clock.now);
    // Ten a minute, four streams, a pass every 10 s: 24 reads a minute wanted.
    const reads = simulate(schedule, clock, 60, 10, 60_000, 10_000);
    for (const [entity, times] of Object.entries(reads)) {
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect(times.length, entity).toBeGreaterThan(10);
      expect(Math.max(...gaps), entity).toBeLessThanOrEqual(60_000);
    }
    // The bucket is used whole (ten a minute over ten minutes), and each stream gets a fair part of it.
    const counts = Object.values(reads).map((t) => t.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(20);
  });

  it('reads a stream that stays deferred once the bound has passed, waiting for its budget', () => {
    const clock = { now: 0 };
    const schedule = new FollowSchedule(5_000, () => clock.now);
    schedule.beginPass();
    expect(schedule.turn('ticket')).toBe('try');
    schedule.done('ticket', 'deferred');
    expect(schedule.deferredThisPass()).toEqual(['ticket']);
    clock.now = 5_000;
    schedule.beginPass();
    expect(schedule.turn('ticket')).toBe('wait');
    schedule.done('ticket', 'read');
    expect(schedule.deferredThisPass()).toEqual([]);
  });
});
