import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import type { Ticket } from '../../../../schemas/canonical.ts';
import type { Ledger } from '../../../../services/ledger/ledger.ts';
import { MemoryLedger } from '../../../../services/ledger/memory-ledger.ts';
import { IdMapCache } from '../../../../services/loader/id-map-cache.ts';
import { Loader, type PlannedRecord } from '../../../../services/loader/loader.ts';
import { ReferenceResolver } from '../../../../services/loader/reference-resolver.ts';
import { MemorySource, MemoryTarget, sourceTicket } from '../../../helpers/memory-platform.ts';

const source = new MemorySource();

/** A loader as one process has it: its own id-map cache over the shared ledger. */
function loaderFor(target: MemoryTarget, ledger: Ledger, runId = 'run-1'): Loader {
  const ids = new IdMapCache(ledger);
  return new Loader({ runId, target, source, ledger, ids, resolver: new ReferenceResolver(ids, () => null), unknownOutcomeWaitsMs: [0] });
}

const planned = (ticket: Ticket): PlannedRecord<'ticket'> => ({ entity: 'ticket', sourceId: ticket.sourceId, updatedAt: ticket.updatedAt, record: ticket, notes: [] });

const bodies = (ticket: Ticket | undefined) => ticket?.comments.map((c) => c.body);

describe('Loader: exactly one target record per source record', () => {
  it('finds a ticket created just before a crash by its intent row, and never creates it again', async () => {
    const ledger = new MemoryLedger({ migration: 'm' });
    const target = new MemoryTarget();
    // The process dies between the create and the id-map write: here the ledger goes away right
    // after the target answered, so the id map holds only the intent written before the create.
    const dying: Ledger = Object.assign(Object.create(ledger) as Ledger, {
      putId: async (entry: Parameters<Ledger['putId']>[0]) => {
        if (entry.targetId !== '') throw new HdmError('LEDGER_FAILED', 'the ledger went away');
        return ledger.putId(entry);
      },
    });
    const ticket = sourceTicket('7', '2026-02-01T00:00:00Z');
    await expect(loaderFor(target, dying).load(planned(ticket))).rejects.toMatchObject({ code: 'LEDGER_FAILED' });
    expect(target.byStamp('ticket', 'memsrc:7')).toHaveLength(1);
    expect((await ledger.lookupIds('ticket', ['7'])).get('7')).toMatchObject({ targetId: '' });

    // The next process meets the same record.
    const result = await loaderFor(target, ledger, 'run-2').load(planned(ticket));
    expect(result).toMatchObject({ outcome: 'loaded', action: 'matched' });
    const onTarget = target.byStamp('ticket', 'memsrc:7');
    expect(onTarget).toHaveLength(1);
    expect(bodies(onTarget[0])).toEqual(['Help with 7']);
    expect(target.calls.filter((c) => c.op === 'create')).toHaveLength(1);
    // Counted as created by the migration (undo removes it), with the target's ID in the map.
    expect((await ledger.lookupIds('ticket', ['7'])).get('7')).toMatchObject({ targetId: onTarget[0].targetId, created: true });
  });

  it('looks a create whose answer was lost up on the target instead of creating it twice', async () => {
    const ledger = new MemoryLedger({ migration: 'm' });
    const target = new MemoryTarget();
    let lost = 0;
    // What the SDK's HTTP client raises when a request may have reached the platform but no answer came back.
    target.afterWrite = (op) => {
      if (op === 'create' && lost++ === 0) throw new HdmError('OUTCOME_UNKNOWN', 'POST /tickets: the connection closed before the answer');
    };
    const ticket = sourceTicket('8', '2026-02-01T00:00:00Z', { comments: [['8-1', 'first'], ['8-2', 'second']] });
    const result = await loaderFor(target, ledger).load(planned(ticket));
    expect(result).toMatchObject({ outcome: 'loaded', action: 'created' });
    const onTarget = target.byStamp('ticket', 'memsrc:8');
    expect(onTarget).toHaveLength(1);
    expect(bodies(onTarget[0])).toEqual(['first', 'second']);
    expect(target.calls.filter((c) => c.op === 'create')).toHaveLength(1);
    const entry = (await ledger.lookupIds('ticket', ['8'])).get('8')!;
    expect(entry).toMatchObject({ targetId: onTarget[0].targetId, created: true });
    expect(Object.keys(entry.children).sort()).toEqual(['8-1', '8-2']);
  });
  it('completes a long thread whose every note lost its first answer, each note once (regression: failed after 5 rounds)', async () => {
    const ledger = new MemoryLedger({ migration: 'm' });
    const target = new MemoryTarget();
    const loader = loaderFor(target, ledger);
    await loader.load(planned(sourceTicket('11', '2026-05-01T00:00:00Z', { comments: [['11-0', 'opening']] })));
    const thread: [string, string][] = Array.from({ length: 9 }, (_, i) => [`11-${i}`, i === 0 ? 'opening' : `note ${i}`]);
    // One request per note, as Freshdesk and RT take them: each note's first answer is lost after the
    // platform stored it, so every round gets exactly one note further.
    const answered = new Set<string>();
    target.afterComment = (_targetId, commentId) => {
      if (answered.has(commentId)) return;
      answered.add(commentId);
      throw new HdmError('OUTCOME_UNKNOWN', `POST /tickets/11/notes: no answer for ${commentId}`);
    };
    const result = await loader.load(planned(sourceTicket('11', '2026-05-02T00:00:00Z', { comments: thread })));
    expect(result).toMatchObject({ outcome: 'loaded', action: 'updated' });
    const onTarget = target.byStamp('ticket', 'memsrc:11');
    expect(onTarget).toHaveLength(1);
    expect(bodies(onTarget[0])).toEqual(thread.map(([, body]) => body));
  });
});

describe('Loader: newest wins, history kept', () => {
  it('never lets an older version overwrite a newer one', async () => {
    const ledger = new MemoryLedger({ migration: 'm' });
    const target = new MemoryTarget();
    const newer = sourceTicket('9', '2026-03-02T00:00:00Z', { subject: 'Newer subject' });
    const older = sourceTicket('9', '2026-03-01T00:00:00Z', { subject: 'Older subject' });
    await loaderFor(target, ledger).load(planned(newer));
    // Late delivery of the older version, in this process and in a fresh one.
    expect(await loaderFor(target, ledger).load(planned(older))).toMatchObject({ outcome: 'loaded', action: 'unchanged' });
    const [onTarget] = target.byStamp('ticket', 'memsrc:9');
    expect(onTarget.subject).toBe('Newer subject');
    expect((await ledger.lookupIds('ticket', ['9'])).get('9')!.sourceUpdatedAt).toBe('2026-03-02T00:00:00Z');
    // A newer one still replaces it.
    const newest = sourceTicket('9', '2026-03-03T00:00:00Z', { subject: 'Newest subject' });
    expect(await loaderFor(target, ledger).load(planned(newest))).toMatchObject({ action: 'updated' });
    expect(target.byStamp('ticket', 'memsrc:9')[0].subject).toBe('Newest subject');
  });

  it('appends each comment once across repeated loads, new processes and lost answers', async () => {
    const ledger = new MemoryLedger({ migration: 'm' });
    const target = new MemoryTarget();
    const v1 = sourceTicket('10', '2026-04-01T00:00:00Z', { comments: [['10-1', 'one'], ['10-2', 'two']] });
    const v2 = sourceTicket('10', '2026-04-02T00:00:00Z', { comments: [['10-1', 'one'], ['10-2', 'two'], ['10-3', 'three']] });
    const v3 = sourceTicket('10', '2026-04-03T00:00:00Z', { subject: 'Renamed', comments: [['10-1', 'one'], ['10-2', 'two'], ['10-3', 'three'], ['10-4', 'four']] });
    const first = loaderFor(target, ledger);
    await first.load(planned(v1));
    await first.load(planned(v1));
    await first.load(planned(v2));
    await loaderFor(target, ledger).load(planned(v2));
    // An update that the target carried out but whose answer was lost is written again, and must
    // not append comment four a second time.
    let lost = 0;
    target.afterWrite = (op) => {
      if (op === 'update' && lost++ === 0) throw new HdmError('OUTCOME_UNKNOWN', 'PUT /tickets: no answer');
    };
    expect(await loaderFor(target, ledger).load(planned(v3))).toMatchObject({ outcome: 'loaded', action: 'updated' });
    expect(lost).toBe(2);
    const onTarget = target.byStamp('ticket', 'memsrc:10');
    expect(onTarget).toHaveLength(1);
    expect(onTarget[0].subject).toBe('Renamed');
    expect(bodies(onTarget[0])).toEqual(['one', 'two', 'three', 'four']);
    expect(Object.keys((await ledger.lookupIds('ticket', ['10'])).get('10')!.children).sort()).toEqual(['10-1', '10-2', '10-3', '10-4']);
  });
});
