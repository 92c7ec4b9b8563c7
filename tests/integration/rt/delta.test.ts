import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deltaCommand, migrateCommand, verifyCommand } from '../../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';

// A delta from a real RT after its tickets were updated and commented through REST2, as agents would.
describe('delta from rt → freshdesk', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('rt', 'freshdesk', { tickets: 6, seed: 8, articles: 1, maxComments: 3 });
  });
  afterAll(async () => m?.close());

  const rest = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${m.source.url}/REST/2.0/${path}`, {
      method,
      headers: { authorization: `token ${m.source.credentials.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
    return res.json();
  };

  it('carries updates and new comments made in RT after the full run', async () => {
    const config = parseMigrationConfig({ ...m.config, entities: ['group', 'agent', 'contact', 'ticketField', 'ticket'] });
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);

    const search = (await (await fetch(`${m.source.url}/REST/2.0/tickets?query=${encodeURIComponent("id > 0")}&per_page=20`, {
      headers: { authorization: `token ${m.source.credentials.token}` },
    })).json()) as { items: { id: number }[] };
    const [first, second] = search.items.map((t) => t.id);
    await rest('PUT', `ticket/${first}`, { Subject: 'Changed in RT after the full run — ünïcødé' });
    await rest('POST', `ticket/${second}/correspond`, { Content: '<p>A reply written in RT during the migration</p>', ContentType: 'text/html' });
    await rest('POST', `ticket/${second}/comment`, { Content: 'An internal comment', ContentType: 'text/plain' });

    const out = captureOutput();
    expect(await deltaCommand(config, { json: true }, out, m.env)).toBe(0);
    const pass = JSON.parse(out.stdout[0]);
    expect(pass.counts.ticket.updated).toBeGreaterThanOrEqual(2);
    expect(pass.counts.ticket.created).toBe(0);

    const verify = captureOutput();
    const code = await verifyCommand(config, { json: true }, verify, m.env);
    const report = JSON.parse(verify.stdout.join('\n'));
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ source: 6, missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });
});
