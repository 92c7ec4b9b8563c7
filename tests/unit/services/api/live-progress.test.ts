import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import { LiveProgress } from '../../../../services/api/live-progress.ts';

describe('LiveProgress', () => {
  it('counts the pipeline events per entity, per run and in total', () => {
    const p = new LiveProgress();
    const e = p.events();
    e.read!('ticket', 5);
    e.mapped!('ticket');
    e.loaded!('ticket', 'created', 3);
    e.failed!('ticket', new HdmError('REJECTED', 'subject too long', { context: { recordId: '7' } }));
    p.startRun();
    e.loaded!('ticket', 'updated', 2);
    expect(p.total.get('ticket')).toEqual({ read: 5, mapped: 1, loaded: 2, failed: 1, filtered: 0 });
    expect(p.run.get('ticket')).toEqual({ read: 0, mapped: 0, loaded: 1, failed: 0, filtered: 0 });
    expect(p.canonicalLoaded).toBe(5);
    expect(p.recentFailures[0]).toMatchObject({ entity: 'ticket', code: 'REJECTED', recordId: '7' });
  });

  it('keeps throughput per second for recent minutes and per minute before them', () => {
    const p = new LiveProgress({ maxSamples: 60 });
    const e = p.events();
    const start = Date.parse('2026-03-02T10:00:00Z');
    p.sample(start);
    for (let i = 1; i <= 180; i++) {
      e.loaded!('ticket', 'created', 10);
      p.sample(start + i * 1000);
    }
    expect(p.samples).toHaveLength(60);
    expect(p.samples.at(-1)!.perSecond).toBe(10);
    const history = p.history();
    // Two whole minutes before the per-second window, then the window itself.
    expect(history.slice(0, 2).map((s) => s.at)).toEqual([start, start + 60_000]);
    expect(history[1].perSecond).toBe(10);
    expect(history).toHaveLength(62);
    for (let i = 1; i < history.length; i++) expect(history[i].at).toBeGreaterThan(history[i - 1].at);
  });
});

describe('LiveProgress: express order', () => {
  it('shows the working set moving, then complete, in the progress view; nothing in entity order', async () => {
    const { progressView } = await import('../../../../services/api/progress.ts');
    const p = new LiveProgress();
    p.startRun();
    const view = () => progressView({ running: true, kind: 'full', runStartedAt: p.runStartedAt, finishedAt: null, entities: ['ticket'], counters: p.run, phases: p.phases, closingPhase: null, totals: new Map(), workingSet: p.workingSet });
    expect(view().workingSet).toBeNull();
    p.events().workingSet!('start');
    expect(view().workingSet).toMatchObject({ state: 'running', completedAt: null });
    p.events().workingSet!('done');
    expect(view().workingSet).toMatchObject({ state: 'complete' });
    expect(view().workingSet!.completedAt).not.toBeNull();
    p.startRun();
    expect(view().workingSet).toBeNull();
  });
});
