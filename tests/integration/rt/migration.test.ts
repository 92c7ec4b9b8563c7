import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { rt } from '../../../connectors/rt/index.ts';
import type { Contact } from '../../../schemas/canonical.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

const AGENT_CREATED = 3;

/**
 * Tickets an agent opened on a customer's behalf: created through REST2 by the token's user (root,
 * an agent), so the first transaction's author is not the requester. Freshdesk reports a
 * description's author as the requester, a limitation its connector declares.
 */
async function agentCreatedTickets(m: MigrationEnv): Promise<void> {
  const c = rt.createConnector({ url: m.source.url, credentials: m.source.credentials });
  try {
    let customer: Contact | null = null;
    for await (const page of c.read('contact', null)) customer ??= (page.records.map((e) => e.record as Contact).find((p) => p.email) ?? null);
    for (let i = 0; i < AGENT_CREATED; i++) {
      const res = await fetch(`${m.source.url}/REST/2.0/ticket`, {
        method: 'POST',
        headers: { authorization: `token ${m.source.credentials.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ Queue: 'General', Subject: `Opened by an agent ${i}`, Requestor: customer!.email, Content: `<p>Logged from a phone call ${i}</p>`, ContentType: 'text/html' }),
      });
      expect(res.status).toBe(201);
    }
  } finally {
    await c.close();
  }
}

// Whole migrations through the embedded pipeline with a real RT on one side.
for (const [from, to, entities] of [
  ['zendesk', 'rt', ['group', 'contact', 'ticketField', 'ticket']],
  ['rt', 'freshdesk', ['group', 'contact', 'ticketField', 'ticket', 'kbCategory', 'kbSection', 'kbArticle']],
] as const) {
  describe(`migration ${from} → ${to}`, () => {
    let m: MigrationEnv;
    beforeAll(async () => {
      m = await migrationEnv(from, to, { tickets: 12, seed: 6, articles: 2, maxComments: 5, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, {}, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
      if (from === 'rt') await agentCreatedTickets(m);
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
      // Agent-created tickets verify clean: their description's author is not compared on Freshdesk.
      expect(result.entities.ticket.loaded).toBe(from === 'rt' ? 12 + AGENT_CREATED : 12);
      if (from === 'rt') {
        // RT Articles travel as a KB: the stock General class and the two seeded ones, with their articles.
        expect(result.entities.kbCategory.loaded).toBe(3);
        expect(result.entities.kbSection.loaded).toBe(3);
        expect(result.entities.kbArticle.loaded).toBe(2);
      }
    });
  });
}
