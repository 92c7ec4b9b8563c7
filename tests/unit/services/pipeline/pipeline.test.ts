import { describe, expect, it } from 'vitest';
import type { Page, ReadOptions, ReadWindow, StreamDescriptor, StreamState } from '../../../../connectors/sdk/contract.ts';
import type { EntityName, Ticket } from '../../../../schemas/canonical.ts';
import { HdmError } from '../../../../schemas/errors.ts';
import { historyWindows, runFullMigration } from '../../../../services/pipeline/pipeline.ts';
import { MemorySource, sourceTicket, ticketPage, type MemoryTarget } from '../../../helpers/memory-platform.ts';
import { memoryPipeline } from '../../../helpers/memory-pipeline.ts';

const at = (day: number) => `2026-06-${String(day).padStart(2, '0')}T00:00:00Z`;

/** Three pages of two tickets each, states p1..p3. */
function world() {
  const source = new MemorySource();
  source.pages.ticket = [
    ticketPage('p1', [sourceTicket('1', at(1)), sourceTicket('2', at(1))]),
    ticketPage('p2', [sourceTicket('3', at(2)), sourceTicket('4', at(2))]),
    ticketPage('p3', [sourceTicket('5', at(3)), sourceTicket('6', at(3))]),
  ];
  const { target, ledger, checkpoints, deps } = memoryPipeline(source);
  return { source, target, ledger, checkpoints, deps };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 1));
  }
}

const onTarget = (target: MemoryTarget, id: string) => target.byStamp('ticket', `memsrc:${id}`).length;

describe('runFullMigration: a cursor is saved only after everything it covers is loaded and recorded', () => {
  it('holds the cursor behind a record the target is slow to take, while later pages load', async () => {
    const { target, checkpoints, deps } = world();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    target.beforeWrite = async (_op, _entity, record) => {
      if (record.sourceId === '3') await gate;
    };
    const run = runFullMigration(deps());
    // Tickets 5 and 6 sit on other partitions of the bus than 3: they load while 3 waits.
    await until(() => onTarget(target, '5') === 1 && onTarget(target, '6') === 1 && checkpoints.cursor('full', 'ticket') === 'p1');
    await new Promise((r) => setTimeout(r, 20));
    expect(checkpoints.cursor('full', 'ticket')).toBe('p1');
    expect(checkpoints.saved.map((d) => d.full?.streams.ticket?.state?.cursor).filter(Boolean)).not.toContain('p2');
    release();
    const result = await run;
    expect(result.counts.ticket).toMatchObject({ read: 6, loaded: 6, created: 6, failed: 0 });
    expect(checkpoints.data.full).toMatchObject({ status: 'done', streams: { ticket: { state: { cursor: 'p3' }, done: true } } });
    expect(checkpoints.violations).toEqual([]);
  });

  it('stops before the cursor passes a record the target could not be reached for, and the resumed run loads each record once', async () => {
    const { target, checkpoints, deps } = world();
    let down = true;
    target.beforeWrite = (_op, _entity, record) => {
      if (record.sourceId === '3' && down) throw new HdmError('UNREACHABLE', 'connect ECONNREFUSED');
    };
    await expect(runFullMigration(deps())).rejects.toMatchObject({ code: 'UNREACHABLE' });
    expect(checkpoints.data.full?.status).toBe('running');
    expect(checkpoints.cursor('full', 'ticket')).not.toMatch(/p2|p3/);
    expect(checkpoints.data.full?.streams.ticket?.done ?? false).toBe(false);
    expect(checkpoints.violations).toEqual([]);

    down = false;
    await runFullMigration(deps());
    expect(checkpoints.data.full).toMatchObject({ status: 'done', streams: { ticket: { state: { cursor: 'p3' }, done: true } } });
    for (const id of ['1', '2', '3', '4', '5', '6']) expect(onTarget(target, id), `ticket ${id}`).toBe(1);
    expect(checkpoints.violations).toEqual([]);
  });
});

describe('loads at once', () => {
  // Issue: Zendesk gathers the ticket creates in flight at one moment into one create_many job; with the
  // loader's 16 at once a job held about 3 tickets, and each job costs a request and a status read.
  it('runs an entity with as many loads at once as the target asks for, when that is more than the configured number', async () => {
    const source = new MemorySource();
    source.pages.ticket = [ticketPage('p1', Array.from({ length: 24 }, (_, i) => sourceTicket(String(i + 1), at(1))))];
    const { target, deps } = memoryPipeline(source);
    let inFlight = 0;
    let most = 0;
    target.beforeWrite = async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight -= 1;
    };
    target.capabilities.loadConcurrency = { ticket: 8 };
    const result = await runFullMigration(deps());
    expect(result.counts.ticket).toMatchObject({ loaded: 24, failed: 0 });
    // More than the configured 4, never more than the 8 asked for (24 tickets spread over the bus's 16 partitions).
    expect(most).toBeGreaterThan(4);
    expect(most).toBeLessThanOrEqual(8);
  });
});

describe('express order', () => {
  const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const ticket = (id: string, status: 'open' | 'solved', updatedAt: string) => ({ ...sourceTicket(id, updatedAt), status });

  it('creates every open or recently updated ticket before any other, and says the working set is complete between them', async () => {
    const source = new MemorySource();
    // Cursor (updatedAt) order mixes both, as an export gives them.
    source.pages.ticket = [
      ticketPage('p1', [ticket('1', 'solved', at(1)), ticket('2', 'open', at(1))]),
      ticketPage('p2', [ticket('3', 'solved', at(2)), ticket('6', 'solved', daysAgo(100))]),
      ticketPage('p3', [ticket('4', 'solved', daysAgo(2)), ticket('5', 'open', daysAgo(1))]),
    ];
    const { target, checkpoints, deps } = memoryPipeline(source);
    let createdAtComplete: string[] | null = null;
    const created = () => target.calls.filter((c) => c.op === 'create' && c.entity === 'ticket').map((c) => c.sourceId);
    const result = await runFullMigration({
      ...deps(),
      order: 'express',
      express: { recentDays: 30, statuses: ['open'] },
      events: { workingSet: (state) => void (state === 'done' && (createdAtComplete = created())) },
    });
    expect(createdAtComplete!.sort()).toEqual(['2', '4', '5']);
    expect(created().slice(3).sort()).toEqual(['1', '3', '6']);
    expect(created()).toHaveLength(6);
    // The history pass leaves out what the working set handed on, up to the instant its cursor covered
    // (ticket 5's, read again at that boundary and found unchanged).
    expect(result.counts.ticket).toMatchObject({ created: 6, read: 7, unchanged: 1, failed: 0 });
    expect(result.run.summary.workingSet).toMatchObject({ complete: true });
    expect((await checkpoints.load()).full).toMatchObject({ status: 'done', workingSet: { done: true, statuses: ['open'] }, streams: { ticket: { done: true } } });
  });

  it('keeps entity order unless asked: no working set, tickets in cursor order', async () => {
    const source = new MemorySource();
    source.pages.ticket = [ticketPage('p1', [ticket('1', 'solved', at(1)), ticket('2', 'open', daysAgo(1))])];
    const { target, checkpoints, deps } = memoryPipeline(source);
    let told = false;
    await runFullMigration({ ...deps(), events: { workingSet: () => void (told = true) } });
    expect(told).toBe(false);
    expect(target.calls.filter((c) => c.op === 'create').map((c) => c.sourceId)).toEqual(['1', '2']);
    expect((await checkpoints.load()).full?.workingSet).toBeUndefined();
  });
});

/** A source whose ticket stream reads in windows (`StreamDescriptor.windows`), one ticket a page in `updatedAt` order. */
class WindowedSource extends MemorySource {
  /** Each ticket read's window, in the order the reads began. */
  readonly reads: (ReadWindow | null)[] = [];
  override streams(): StreamDescriptor[] {
    return [{ entity: 'ticket', primaryKey: 'sourceId', cursorField: 'updatedAt', sorted: true, windows: true }];
  }
  override async *read<E extends EntityName>(entity: E, state: StreamState | null, options: ReadOptions = {}): AsyncIterable<Page<E>> {
    if (entity !== 'ticket') return yield* super.read(entity, state);
    this.reads.push(options.window ?? null);
    const from = options.window?.from ? Date.parse(options.window.from) : -Infinity;
    const until = options.window?.until ? Date.parse(options.window.until) : Infinity;
    const pages = this.pages.ticket ?? [];
    const start = state ? pages.findIndex((p) => p.state.cursor === state.cursor) + 1 : 0;
    for (const page of pages.slice(start)) {
      const at = Date.parse(page.records[0].updatedAt);
      if (at < from) continue;
      if (at >= until) return;
      const wanted = page.records.filter((e) => !options.only || options.only({ sourceId: e.sourceId, updatedAt: e.updatedAt, status: (e.record as Ticket).status }));
      yield structuredClone({ records: wanted, state: page.state }) as Page<E>;
    }
  }
}

describe('express order: history windows', () => {
  const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const ticket = (id: string, status: 'open' | 'solved', updatedAt: string) => ({ ...sourceTicket(id, updatedAt), status });

  it('reads the next window while the last one still settles, and moves the checkpoint past a window only once it has', async () => {
    const source = new WindowedSource();
    // Oldest first, as the stream orders them: h3 in the window 7 to 15 days back, h1 in the one 1 to 3 days back.
    source.pages.ticket = [
      ticketPage('p1', [ticket('h3', 'solved', daysAgo(10))]),
      ticketPage('p2', [ticket('h1', 'solved', daysAgo(2))]),
      ticketPage('p3', [ticket('w', 'open', daysAgo(1.5))]),
    ];
    const { target, checkpoints, deps } = memoryPipeline(source);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    target.beforeWrite = async (_op, _entity, record) => {
      if (record.sourceId === 'h1') await gate;
    };
    const run = runFullMigration({ ...deps(), order: 'express', express: { recentDays: 1, statuses: ['open'] } });
    // h1 waits on the target; the older window's h3 is read and loaded meanwhile.
    await until(() => onTarget(target, 'h3') === 1);
    expect(onTarget(target, 'h1')).toBe(0);
    const history = () => checkpoints.data.full?.workingSet?.history;
    const windowOf = (w: ReadWindow | null) => history()!.windows.findIndex((x) => x.from === w?.from && x.until === w?.until);
    expect(source.reads.slice(1).map(windowOf)).toEqual(expect.arrayContaining([1, 3]));
    // The checkpoint stays in the window whose record has not settled.
    await new Promise((r) => setTimeout(r, 20));
    expect(history()!.step).toBeLessThanOrEqual(1);
    release();
    const result = await run;
    for (const id of ['w', 'h1', 'h3']) expect(onTarget(target, id), id).toBe(1);
    expect(result.counts.ticket).toMatchObject({ created: 3, failed: 0 });
    expect(history()!.step).toBe(history()!.windows.length + 1);
    expect(checkpoints.violations).toEqual([]);
  });
});

describe('historyWindows: express order history, newest first', () => {
  it('doubles each window going back from the run start, and leaves the last one open towards the oldest version', () => {
    const windows = historyWindows('2026-12-05T19:04:39.512Z', '2026-11-20T00:00:00Z');
    expect(windows).toEqual([
      { from: '2026-12-04T19:04:39.000Z', until: null },
      { from: '2026-12-02T19:04:39.000Z', until: '2026-12-04T19:04:39.000Z' },
      { from: '2026-11-28T19:04:39.000Z', until: '2026-12-02T19:04:39.000Z' },
      { from: '2026-11-20T19:04:39.000Z', until: '2026-11-28T19:04:39.000Z' },
      { from: null, until: '2026-11-20T19:04:39.000Z' },
    ]);
    // Without a known oldest version the windows reach back to the epoch: about log2 of the days since.
    const toEpoch = historyWindows('2026-12-05T19:04:39Z', null);
    expect(toEpoch.at(-1)?.from).toBeNull();
    // 20,792 days: bounded windows while 2^(k+1) − 1 days stays after the epoch (k = 0…13), then the open one.
    expect(toEpoch.length).toBe(15);
    // Everything newer than a day: one window, the whole stream.
    expect(historyWindows('2026-12-05T19:04:39Z', '2026-12-05T00:00:00Z')).toEqual([{ from: null, until: null }]);
  });
});
