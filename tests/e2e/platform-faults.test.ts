import { describe, expect, it } from 'vitest';
import { FAULTS, faultRun } from '../helpers/fault-run.ts';

// Issue: "Exactly one record, nothing lost … under outages, hostile answers and bad input". A full
// migration where one API request in ten fails at random — 500/503, 429, connection resets, answers
// lost after the platform acted, 502s from a gateway, JSON bodies cut short — with two target outages
// and two SIGKILLs of the migration process, resumed until done, ends reconciled: nothing missing,
// nothing mismatched, nothing duplicated. (`npm run bench -- faults` runs it at 2,000 tickets.)

describe('a full migration through faults on both platforms, outages and kills', () => {
  it('zendesk → freshdesk ends with exactly one target record per source record', async () => {
    const seed = Number(process.env.HDM_FAULT_SEED ?? 20261204);
    const result = await faultRun({ from: 'zendesk', to: 'freshdesk', tickets: 200, seed, faultRate: 0.1, outages: 2, outageMs: 5000, kills: 2, log: (line) => process.stderr.write(`fault run: ${line}\n`) });
    const context = `seed ${seed}; events ${result.events.join(', ')}; exits ${result.exits.join(', ')}; faults ${JSON.stringify(result.hits)}`;
    expect(result.events, context).toHaveLength(4);
    for (const kind of Object.keys(FAULTS)) expect(result.hits[kind], context).toBeGreaterThan(0);
    expect(result.targetTickets, context).toBe(result.sourceTickets);
    for (const [entity, stats] of Object.entries(result.report.entities)) {
      expect(stats, `${entity}: ${JSON.stringify(result.report.issues)}; ${context}`).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
    }
    expect(result.report.clean, context).toBe(true);
    expect(result.exits.at(-1), context).toBe(0);
  }, 900_000);
});
