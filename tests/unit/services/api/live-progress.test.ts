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

describe('the ETA counts the comments and attachments of the tickets still to come', () => {
  // The estimate's own budget model over real connectors (no request is made: only their cost and limit tables are read).
  const budgetModel = async () => {
    const { projectPhase, sideRates } = await import('../../../../services/estimate/estimate.ts');
    const { zendesk } = await import('../../../../connectors/zendesk/index.ts');
    const { freshdesk } = await import('../../../../connectors/freshdesk/index.ts');
    const source = zendesk.createConnector({ url: 'http://127.0.0.1:9', credentials: { email: 'a@example.com', apiToken: 't' } });
    const target = freshdesk.createConnector({ url: 'http://127.0.0.1:9', credentials: { apiKey: 'k' } });
    const rates = sideRates(source, target, { source: { requestsPerMinute: 0, concurrency: 8 }, target: { requestsPerMinute: 0, concurrency: 8 } });
    return (entity: 'ticket' | 'contact', records: number, c: { comments: number; attachments: number }) =>
      projectPhase(source, target, rates, entity, records, c.comments, c.attachments).seconds;
  };

  it('from the sample drawn at the start while the tickets wait, from the run\'s own reads once it has some', async () => {
    const { progressView } = await import('../../../../services/api/progress.ts');
    const budget = await budgetModel();
    const p = new LiveProgress();
    p.startRun(Date.parse('2026-03-02T10:00:00Z'));
    const e = p.events();
    const totals = new Map([
      ['contact', 100],
      ['ticket', 1000],
    ]);
    const sample = { tickets: 20, comments: 100, attachments: 10 };
    const view = (conversationSample: typeof sample | null, now: number) =>
      progressView({ running: true, kind: 'full', runStartedAt: p.runStartedAt, finishedAt: null, entities: ['contact', 'ticket'], counters: p.run, phases: p.phases, closingPhase: null, totals, budgetSeconds: budget, conversation: p.conversation, conversationSample }, now);

    e.phase!('contact', 'start');
    const t0 = Date.now();
    const ticketRow = (v: ReturnType<typeof view>) => v.entities.find((r) => r.entity === 'ticket')!;
    const waiting = view(sample, t0);
    expect(waiting.ticketConversation).toEqual({ commentsPerTicket: 5, attachmentsPerTicket: 0.5, from: 'sample', tickets: 20 });
    // 1,000 tickets with 5,000 comments and 500 attachments: the Freshdesk target writes each reply as a note.
    expect(ticketRow(waiting)).toMatchObject({ state: 'waiting', etaFrom: 'budget', etaSeconds: Math.round(budget('ticket', 1000, { comments: 5000, attachments: 500 })) });
    expect(ticketRow(waiting).etaSeconds!).toBeGreaterThan(2 * budget('ticket', 1000, { comments: 0, attachments: 0 }));
    // Without a sample the model counts the tickets alone, and says so.
    const unknown = view(null, t0);
    expect(unknown.ticketConversation).toBeNull();
    expect(ticketRow(unknown).etaSeconds).toBe(Math.round(budget('ticket', 1000, { comments: 0, attachments: 0 })));

    // The run reads its first tickets: 10 tickets with 80 comments (a ticket counts itself and each comment) and 4 attachments.
    e.phase!('contact', 'done');
    e.phase!('ticket', 'start');
    e.read!('ticket', 90, { tickets: 10, comments: 80, attachments: 4 });
    expect(view(sample, t0).ticketConversation).toEqual({ commentsPerTicket: 8, attachmentsPerTicket: 0.4, from: 'run', tickets: 10 });
    // A new run counts its own tickets from zero.
    p.startRun();
    expect(p.conversation).toEqual({ tickets: 0, comments: 0, attachments: 0 });
  });
});
