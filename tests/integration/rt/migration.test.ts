import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';

// Whole migrations through the embedded pipeline with a real RT on one side.
for (const [from, to, entities] of [
  ['zendesk', 'rt', ['group', 'contact', 'ticketField', 'ticket']],
  ['rt', 'freshdesk', ['group', 'contact', 'ticketField', 'ticket', 'kbCategory', 'kbSection', 'kbArticle']],
] as const) {
  describe(`migration ${from} → ${to}`, () => {
    let m: MigrationEnv;
    beforeAll(async () => {
      m = await migrationEnv(from, to, { tickets: 12, seed: 6, articles: 2, maxComments: 5 });
    });
    afterAll(async () => m?.close());

    it('reconciles with nothing missing, mismatched or duplicated', async () => {
      const config = parseMigrationConfig(m.config);
      const out = captureOutput();
      const code = await migrateCommand(config, { json: true, progress: false }, out, m.env);
      const result = JSON.parse(out.stdout.join('\n'));
      expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
      expect(code).toBe(0);
      for (const entity of entities) {
        expect(result.entities[entity].missing, entity).toBe(0);
        expect(result.entities[entity].mismatched, entity).toBe(0);
        expect(result.entities[entity].duplicates, entity).toBe(0);
      }
      expect(result.entities.ticket.loaded).toBe(12);
      if (from === 'rt') {
        // RT Articles travel as a KB: the stock General class and the two seeded ones, with their articles.
        expect(result.entities.kbCategory.loaded).toBe(3);
        expect(result.entities.kbSection.loaded).toBe(3);
        expect(result.entities.kbArticle.loaded).toBe(2);
      }
    });
  });
}
