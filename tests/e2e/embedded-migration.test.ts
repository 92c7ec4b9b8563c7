import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';

const COUNTED = ['group', 'organization', 'contact', 'ticketField', 'ticket', 'kbCategory', 'kbSection', 'kbArticle'] as const;

for (const [from, to] of [
  ['zendesk', 'freshdesk'],
  ['freshdesk', 'zendesk'],
] as const) {
  describe(`embedded migration ${from} → ${to}`, () => {
    let m: MigrationEnv;
    beforeAll(async () => {
      m = await migrationEnv(from, to, { tickets: 60, seed: 7, articles: 6, unthrottled: '60 tickets with up to 30 comments each, migrated twice and verified are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '60 tickets with up to 30 comments each, migrated twice and verified are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    });
    afterAll(async () => m?.close());

    it('moves every record, reconciles clean, and a second run creates nothing', async () => {
      const config = parseMigrationConfig(m.config);
      const before = m.target.counts();
      const first = captureOutput();
      const code = await migrateCommand(config, { json: true, progress: false }, first, m.env);
      const result = JSON.parse(first.stdout.join('\n'));
      expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
      expect(code).toBe(0);

      const sourceCounts = m.source.counts();
      const afterFirst = m.target.counts();
      for (const entity of COUNTED) {
        expect(result.entities[entity].source, entity).toBe(sourceCounts[entity]);
        expect(result.entities[entity].missing, entity).toBe(0);
        expect(result.entities[entity].duplicates, entity).toBe(0);
        expect(result.entities[entity].mismatched, entity).toBe(0);
        // What the target gained is exactly what loaded (existing records such as the owner stay).
        expect(afterFirst[entity] - before[entity], entity).toBe(result.counts[entity].created);
      }
      expect(result.counts.ticket.created).toBe(60);

      const second = captureOutput();
      expect(await migrateCommand(config, { json: true, progress: false, restart: true }, second, m.env)).toBe(0);
      const again = JSON.parse(second.stdout.join('\n'));
      expect(m.target.counts()).toEqual(afterFirst);
      for (const entity of COUNTED) expect(again.counts[entity].created, entity).toBe(0);
      expect(again.counts.ticket.unchanged).toBe(60);

      const verify = captureOutput();
      expect(await verifyCommand(config, { json: true }, verify, m.env)).toBe(0);
      const report = JSON.parse(verify.stdout.join('\n'));
      expect(Object.keys(report.entities.ticket).sort()).toEqual(['accepted', 'duplicates', 'failed', 'filtered', 'loaded', 'mismatched', 'missing', 'source']);
      expect(report.entities.ticket).toMatchObject({ source: 60, loaded: 60, missing: 0, mismatched: 0, duplicates: 0 });
    });
  });
}
