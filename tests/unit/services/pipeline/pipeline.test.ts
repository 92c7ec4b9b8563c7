import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import { runFullMigration } from '../../../../services/pipeline/pipeline.ts';
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
