import { describe, expect, it } from 'vitest';
import type { Ticket } from '../../../../schemas/canonical.ts';
import { MemoryLedger } from '../../../../services/ledger/memory-ledger.ts';
import { IdMapCache } from '../../../../services/loader/id-map-cache.ts';
import { recoverTicketIds } from '../../../../services/loader/id-map-recovery.ts';
import { Loader } from '../../../../services/loader/loader.ts';
import { ReferenceResolver } from '../../../../services/loader/reference-resolver.ts';
import { MemorySource, MemoryTarget, sourceTicket } from '../../../helpers/memory-platform.ts';

describe('recoverTicketIds', () => {
  it('rebuilds an empty id map from the stamps on the target, so a run with a lost ledger updates instead of creating again', async () => {
    const target = new MemoryTarget();
    const source = new MemorySource();
    // What an earlier run wrote, whose ledger is gone: two tickets stamped with this source, one of another.
    const one = sourceTicket('1', '2026-05-01T00:00:00Z', { comments: [['1-1', 'hello'], ['1-2', 'more']] });
    const two = sourceTicket('2', '2026-05-01T00:00:00Z');
    const t1 = target.seed('ticket', one, 'memsrc:1');
    const t2 = target.seed('ticket', two, 'memsrc:2');
    target.seed('ticket', sourceTicket('1', '2026-05-01T00:00:00Z'), 'othersource:1');

    const ledger = new MemoryLedger({ migration: 'renamed' });
    expect(await recoverTicketIds({ target, ledger, sourcePlatform: 'memsrc', runId: 'full-1' })).toBe(2);
    const found = await ledger.lookupIds('ticket', ['1', '2']);
    expect(found.get('1')).toMatchObject({ targetId: t1, checksum: '', created: false });
    expect(found.get('2')).toMatchObject({ targetId: t2 });
    // Once the id map holds tickets, it is left alone.
    expect(await recoverTicketIds({ target, ledger, sourcePlatform: 'memsrc', runId: 'full-2' })).toBeNull();

    const ids = new IdMapCache(ledger);
    const loader = new Loader({ runId: 'full-1', target, source, ledger, ids, resolver: new ReferenceResolver(ids, () => null), unknownOutcomeWaitsMs: [0] });
    const later: Ticket = sourceTicket('1', '2026-05-02T00:00:00Z', { comments: [['1-1', 'hello'], ['1-2', 'more'], ['1-3', 'new at the source']] });
    for (const ticket of [later, two]) {
      const result = await loader.load({ entity: 'ticket', sourceId: ticket.sourceId, updatedAt: ticket.updatedAt, record: ticket, notes: [] });
      expect(result).toMatchObject({ outcome: 'loaded', action: 'updated' });
    }
    expect(target.calls.filter((c) => c.op === 'create')).toEqual([]);
    expect(target.byStamp('ticket', 'memsrc:1').map((t) => t.comments.map((c) => c.body))).toEqual([['hello', 'more', 'new at the source']]);
    expect(target.byStamp('ticket', 'memsrc:2')).toHaveLength(1);
  });
});
