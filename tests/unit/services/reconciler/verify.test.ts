import { describe, expect, it } from 'vitest';
import { HdmError } from '../../../../schemas/errors.ts';
import type { Ticket } from '../../../../schemas/canonical.ts';
import { runFullMigration } from '../../../../services/pipeline/pipeline.ts';
import { acceptFailures } from '../../../../services/reconciler/acceptance.ts';
import { verifyMigration } from '../../../../services/reconciler/verify.ts';
import { MemorySource, plainRules, sourceTicket, ticketPage } from '../../../helpers/memory-platform.ts';
import { memoryPipeline } from '../../../helpers/memory-pipeline.ts';

// Issue: "ready to cut over" while 9 tickets were on the target without some of their notes.
describe('verifyMigration: a record not on the target in full is not clean', () => {
  it('judges a ticket whose notes partly failed a mismatch of that ticket, never loaded, and clean only once its failure is accepted', async () => {
    const source = new MemorySource();
    const { target, ledger, deps } = memoryPipeline(source);
    const notes: [string, string][] = [
      ['Customer wrote in', 'public'],
      ['Internal: refund approved', 'private'],
    ];
    source.pages.ticket = [ticketPage('p1', [sourceTicket('1', '2026-07-01T00:00:00Z', { comments: notes }), sourceTicket('2', '2026-07-01T00:00:00Z')])];
    // Ticket 1 is created, then its second note is refused: the ticket stays on the target without it.
    target.afterWrite = (op, entity, record, targetId) => {
      if (op !== 'create' || entity !== 'ticket' || record.sourceId !== '1') return;
      target.edit('ticket', targetId!, (t: Ticket) => void t.comments.pop());
      throw new HdmError('REJECTED', 'note 2 of ticket 1 was refused: body too long', { context: { entity: 'ticket', recordId: '1' } });
    };
    const run = await runFullMigration(deps());
    expect(run.counts.ticket).toMatchObject({ created: 1, failed: 1 });

    const verify = () => verifyMigration({ source, target, ledger, rules: plainRules(target), entities: ['ticket'], defaultAgentEmail: null });
    const report = await verify();
    expect(report.clean).toBe(false);
    expect(report.entities.ticket).toMatchObject({ source: 2, loaded: 1, failed: 1, mismatched: 1, missing: 0, accepted: 0 });
    expect(report.issues).toEqual([
      expect.objectContaining({ status: 'mismatched', sourceId: '1', targetId: target.byStamp('ticket', 'memsrc:1')[0].targetId, detail: expect.stringContaining('its latest load failed (REJECTED: note 2 of ticket 1 was refused') }),
    ]);

    await acceptFailures(ledger, [{ entity: 'ticket', sourceId: '1' }], { by: 'ops lead', reason: 'the note is in the archive' });
    const accepted = await verify();
    expect(accepted.clean).toBe(true);
    expect(accepted.entities.ticket).toMatchObject({ loaded: 1, failed: 0, mismatched: 0, accepted: 1 });
  });
});
