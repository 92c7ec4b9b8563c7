import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { followDelta } from '../../../services/pipeline/delta.ts';
import type { RunResult } from '../../../services/pipeline/pipeline.ts';
import { openRuntime } from '../../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';

// Zendesk, "Rate limits" → "Incremental Exports": 10 requests a minute (Enterprise; 30 with the High Volume
// add-on), answered 429 with Retry-After past it. "Using the Incremental Export API": the exports leave out
// "any items that were created or changed within the minute prior to your request". "Tickets" → "List
// Tickets": sort_by=updated_at, sort_order=desc, its own bucket (100 a minute). The sandbox runs all of it
// at the documented Enterprise numbers: no leniency here.

let envs: MigrationEnv[] = [];
afterEach(async () => {
  await Promise.allSettled(envs.map((e) => e.close()));
  envs = [];
});

const EXPORT_STREAMS = ['agent', 'organization', 'contact', 'ticket'];

function auth(source: ZendeskSandbox): string {
  return `Basic ${Buffer.from(`${source.credentials.email}/token:${source.credentials.apiToken}`).toString('base64')}`;
}

/**
 * Another client of the account spends the export minute: exports until the sandbox refuses one. Returns the
 * seconds its Retry-After gives; a window nearly over is waited out and spent afresh, so the test has most
 * of a minute in which every export is refused.
 */
async function spendExportMinute(source: ZendeskSandbox): Promise<number> {
  for (;;) {
    let retryAfter = 0;
    for (let i = 0; i < 30 && retryAfter === 0; i++) {
      const res = await fetch(`${source.url}/api/v2/incremental/organizations.json?start_time=0`, { headers: { authorization: auth(source) } });
      await res.arrayBuffer();
      if (res.status === 429) retryAfter = Number(res.headers.get('retry-after'));
    }
    expect(retryAfter).toBeGreaterThan(0);
    if (retryAfter >= 30) return retryAfter;
    await new Promise((r) => setTimeout(r, (retryAfter + 1) * 1000));
  }
}

const cursors = (m: MigrationEnv) =>
  (JSON.parse(readFileSync(join(String(m.config.stateDir), 'checkpoints.json'), 'utf8')) as { delta?: { streams: Record<string, { coveredUntil?: string | null } | null> } }).delta?.streams ?? {};

describe('delta --follow with the export budget spent (zendesk source at its Enterprise limits)', () => {
  it('loads ticket changes through the fast lane every pass while the exports wait, and reads every stream within the deferral bound, each change applied once', async () => {
    const m = await migrationEnv('zendesk', 'freshdesk', { tickets: 12, seed: 47, articles: 1, maxComments: 2 });
    envs.push(m);
    const source = m.source as ZendeskSandbox;
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);

    await spendExportMinute(source);
    const exportsBefore = source.limitStats()['incremental-exports']!;
    source.updateTicket(4, { subject: 'Changed while the exports wait', tags: ['budget-spent'] });
    source.addComment(4, { body: 'First reply while the export minute is spent', public: true });

    const rt = await openRuntime(config, m.env);
    try {
      const maxDeferMs = 6_000;
      const followStarted = Date.now();
      const passes: { result: RunResult; exportsAdmitted: number; cursors: ReturnType<typeof cursors> }[] = [];
      const controller = new AbortController();
      await followDelta(rt.deps(undefined, controller.signal), {
        intervalMs: 300,
        maxDeferMs,
        maxPasses: 60,
        onPass: (result) => {
          passes.push({ result, exportsAdmitted: source.limitStats()['incremental-exports']!.admitted - exportsBefore.admitted, cursors: cursors(m) });
          if (passes.length === 1) {
            // A second change, made after the first pass: the next pass's fast lane carries it, also when
            // it falls in the same updated_at second as the first (the lane reads a young version again).
            source.addComment(4, { body: 'Second reply while the export minute is spent', public: true });
          }
          const deferred = result.run.summary.deferred as string[];
          if (Date.parse(result.run.startedAt) - followStarted >= maxDeferMs && deferred.length === 0) controller.abort();
        },
      });

      // Pass 1: the lane loaded ticket 4; every stream that reads an export was left for later, none of its
      // requests sent past the one refusal that showed the bucket spent.
      const [first, second] = passes;
      expect(first!.result.run.status).toBe('succeeded');
      expect(first!.result.counts.ticket!.updated).toBe(1);
      expect([...(first!.result.run.summary.deferred as string[])].sort()).toEqual([...EXPORT_STREAMS].sort());
      expect(first!.exportsAdmitted).toBe(0);
      // Pass 2: the change made after pass 1, loaded while the exports still wait.
      expect(second!.result.counts.ticket!.updated).toBe(1);
      expect(second!.exportsAdmitted).toBe(0);
      // The deferred streams' cursors did not move while nothing of them was read.
      expect(second!.cursors).toEqual(first!.cursors);

      // No stream starved: the first pass that started past the bound read every stream, waiting for the bucket.
      const bound = passes.find((p) => Date.parse(p.result.run.startedAt) - followStarted >= maxDeferMs);
      expect(bound, 'a pass started past the deferral bound').toBeDefined();
      expect(bound!.result.run.summary.deferred).toEqual([]);
      for (const entity of EXPORT_STREAMS) expect(bound!.result.counts[entity], `${entity} read in that pass`).toBeDefined();
      expect(bound!.exportsAdmitted).toBeGreaterThanOrEqual(EXPORT_STREAMS.length);
      expect(source.limitStats()['incremental-exports']!.refused - exportsBefore.refused).toBeLessThanOrEqual(1);

      // Each change applied once: one `updated` per version across the passes, each reply once on the target.
      const rows = (await rt.ledger.query(
        "SELECT source_id, count() AS n FROM load_attempts WHERE entity = 'ticket' AND action = 'updated' AND outcome = 'loaded' AND run_id LIKE 'delta-%' GROUP BY source_id ORDER BY source_id",
      )) as { source_id: string; n: string | number }[];
      // Ticket 4 changed twice: two versions, each `updated` once.
      expect(rows.map((r) => [r.source_id, Number(r.n)])).toEqual([['4', 2]]);
      for (const [id, text] of [
        ['4', 'First reply while the export minute is spent'],
        ['4', 'Second reply while the export minute is spent'],
      ] as const) {
        const mapped = (await rt.ledger.lookupIds('ticket', [id])).get(id)!;
        const copy = (await rt.target.get('ticket', mapped.targetId)) as Ticket;
        expect(copy.comments.filter((c) => c.body.includes(text)), id).toHaveLength(1);
      }
    } finally {
      await rt.close();
    }
  }, 240_000);
});
