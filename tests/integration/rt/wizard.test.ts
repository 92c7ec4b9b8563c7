import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { estimateCommand } from '../../../services/cli/estimate.command.ts';
import { undoCommand } from '../../../services/cli/undo.command.ts';
import type { Estimate } from '../../../services/estimate/estimate.ts';
import type { UndoReport } from '../../../services/undo/undo.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

const ENTITIES = ['group', 'agent', 'contact', 'ticketField', 'ticket'];

// Estimate and undo with a real RT server on one side.
describe('estimate with RT as the source', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('rt', 'freshdesk', { tickets: 8, seed: 12, maxComments: 4 }, { entities: ENTITIES });
  });
  afterAll(async () => m?.close());

  it("counts tickets from REST2's total and the rest by reading them, as many as the migration loads", async () => {
    const config = parseMigrationConfig(m.config);
    const out = captureOutput();
    expect(await estimateCommand(config, { json: true }, out, m.env)).toBe(0);
    const e = JSON.parse(out.stdout.join('\n')) as Estimate;
    expect(e.entities.ticket).toEqual({ count: 8, method: 'count', billable: true });
    expect(e.entities.contact!.method).toBe('scan');
    expect(e.conversation.exact).toBe(true);
    expect(e.source).toMatchObject({ platform: 'rt', requestsPerMinute: 3000 });
    const run = captureOutput();
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, run, m.env)).toBe(0);
    const counts = JSON.parse(run.stdout.join('\n')).counts;
    for (const entity of ENTITIES) {
      const c = counts[entity];
      expect(e.entities[entity as 'ticket']!.count, entity).toBe(c.loaded + c.filtered + c.failed);
    }
  }, 300_000);
});

describe('undo with RT as the target', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'rt', { tickets: 6, seed: 13, articles: 0, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { entities: ENTITIES });
  });
  afterAll(async () => m?.close());

  it('deletes the tickets it created and lists the users, queues and fields RT cannot delete', async () => {
    const config = parseMigrationConfig(m.config);
    const before = m.target.counts();
    const run = captureOutput();
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, run, m.env)).toBe(0);
    const result = JSON.parse(run.stdout.join('\n'));
    expect(m.target.counts().ticket).toBe(before.ticket + 6);

    const out = captureOutput();
    expect(await undoCommand(config, result.run.runId, { yes: true, json: true, progress: false }, out, m.env)).toBe(1);
    const report = JSON.parse(out.stdout.join('\n')) as UndoReport;
    expect(report.entities.ticket!.deleted).toBe(6);
    expect(m.target.counts().ticket).toBe(before.ticket);
    for (const entity of ['agent', 'contact', 'group'] as const) {
      const created = result.counts[entity].created;
      if (created === 0) continue;
      expect(report.entities[entity]!.refused, entity).toHaveLength(created);
      expect(report.entities[entity]!.reason, entity).toMatch(/RT never deletes/);
      expect(report.entities[entity]!.refused[0].url, entity).toContain(m.target.url);
    }
    expect(report.totals.refused).toBeGreaterThan(0);
    expect(report.totals.failed).toBe(0);
  }, 300_000);
});
