import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

// Issue: "A lost or purged state directory, or a renamed migration, then `hdm migrate` again into the
// same target: every ticket and article was created a second time (20 → 40)". The id map is rebuilt
// from the stamps on the target (tickets) or each create looks on the target first (articles).

async function migrate(m: MigrationEnv, config: Record<string, unknown>) {
  const out = captureOutput();
  const code = await migrateCommand(parseMigrationConfig(config), { json: true, progress: false }, out, m.env);
  return { code, report: JSON.parse(out.stdout.join('\n')), stderr: out.stderr.join('\n') };
}

function expectClean(report: { entities: Record<string, Record<string, number>>; issues: unknown }) {
  for (const [entity, stats] of Object.entries(report.entities)) {
    expect(stats, `${entity}: ${JSON.stringify(report.issues)}`).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
  }
}

describe.each([
  ['zendesk', 'freshdesk'],
  ['freshdesk', 'zendesk'],
])('%s → %s: a second full run without the first run\'s state', (from, to) => {
  let m: MigrationEnv;
  beforeAll(async () => {
    const why = '20 tickets with up to 30 comments each, migrated three times over (state lost, new name): more than the 700 requests a minute, minutes of waiting; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts';
    m = await migrationEnv(from, to, { tickets: 20, seed: 8, articles: 6, unthrottled: why }, {}, { unthrottled: why });
    const first = await migrate(m, m.config);
    expect(first.code, first.stderr).toBe(0);
  });
  afterAll(async () => m?.close());

  it('after the state directory is lost, creates no ticket or article a second time', async () => {
    const before = m.target.counts();
    rmSync(m.config.stateDir as string, { recursive: true, force: true });
    const again = await migrate(m, m.config);
    expect(again.code, again.stderr).toBe(0);
    expect(m.target.counts().ticket).toBe(before.ticket);
    expect(m.target.counts().kbArticle).toBe(before.kbArticle);
    expect(m.target.counts().ticket).toBe(m.source.counts().ticket);
    expect(again.report.counts.ticket.created).toBe(0);
    expect(again.report.counts.kbArticle.created).toBe(0);
    expect(again.report.run.summary.recoveredTicketIds).toBe(m.source.counts().ticket);
    expectClean(again.report);
  });

  it('under a new migration name, creates no ticket or article a second time', async () => {
    const before = m.target.counts();
    const renamed = await migrate(m, { ...m.config, name: `${m.config.name}-renamed` });
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(m.target.counts().ticket).toBe(before.ticket);
    expect(m.target.counts().kbArticle).toBe(before.kbArticle);
    expect(renamed.report.counts.ticket.created).toBe(0);
    expectClean(renamed.report);
  });
});
