import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { migrateCommand } from '../../../services/cli/commands.ts';
import { suggestCommand } from '../../../services/cli/wizard.commands.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';
import { openRuntime } from '../../../services/runtime/runtime.ts';
import { loadMigrationConfig, parseMigrationConfig } from '../../../schemas/config.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

describe('hdm mapping suggest (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 25, seed: 44, articles: 2, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const auth = `Basic ${Buffer.from(`${m.target.credentials.apiKey}:X`).toString('base64')}`;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${m.target.url}/api/v2/${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      return res.json() as Promise<any>;
    };
    // The target already has a "Product" field under another key, a group, and a required field of its own.
    const edition = await api('POST', 'admin/ticket_fields', { label: 'edition', type: 'custom_dropdown', choices: [{ value: 'Basic', position: 1 }, { value: 'Pro', position: 2 }] });
    await api('PUT', `admin/ticket_fields/${edition.id}`, { label: 'Product' });
    await api('POST', 'admin/ticket_fields', { label: 'region', type: 'custom_dropdown', required_for_agents: true, choices: [{ value: 'EU', position: 1 }, { value: 'US', position: 2 }] });
    await api('POST', 'groups', { name: 'Billing' });
  });
  afterAll(async () => m?.close());

  it('writes a commented mapping of every status, field, option and group that validates and runs clean', async () => {
    const out = join(m.dir, 'suggested.yaml');
    const io = captureOutput();
    expect(await suggestCommand(m.configFile, loadMigrationConfig(m.configFile), { out }, io, m.env)).toBe(0);
    const text = readFileSync(out, 'utf8');
    const doc = parse(text);
    expect(text).toContain('# Starting mapping from zendesk to freshdesk');
    expect(text).toMatch(/product: edition # dropdown "Product" → existing dropdown field "Product"/);
    expect(text).toMatch(/affected_channels: affected_channels # multiselect .* stores it as a dropdown/);
    expect(text).toContain('not on the target yet, added as new options unless mapped here: Enterprise');
    expect(text).toContain('deactivated → default agent');
    expect(doc.options.statusMap).toEqual({ new: 'open', open: 'open', pending: 'pending', hold: 'pending', solved: 'solved', closed: 'closed' });
    expect(doc.options.priorityMap).toEqual({ low: 'low', normal: 'normal', high: 'high', urgent: 'urgent' });
    expect(doc.mapping.values.product).toEqual({ Basic: 'Basic', Pro: 'Pro' });
    expect(doc.mapping.defaults).toEqual({ region: 'EU' });
    expect(doc.mapping.groups.Billing).toBe('Billing');
    expect(Object.keys(doc.mapping.groups).length).toBe(m.source.counts().group);
    expect(doc.source).toEqual(m.config.source);

    const config = parseMigrationConfig(doc);
    const run = captureOutput();
    const code = await migrateCommand(config, { json: true, progress: false }, run, m.env);
    const result = JSON.parse(run.stdout.join('\n'));
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);
    const rt = await openRuntime(config, m.env);
    try {
      const tickets = (await readAll(rt.source, 'ticket')).map((e) => e.record as Ticket);
      const ids = await rt.ledger.lookupIds('ticket', tickets.map((t) => t.sourceId));
      let withProduct = 0;
      for (const t of tickets) {
        const onTarget = (await rt.target.get('ticket', ids.get(t.sourceId)!.targetId)) as Ticket;
        expect(onTarget.customFields.region).toBe('EU');
        expect(onTarget.customFields.edition ?? null).toBe(t.customFields.product ?? null);
        expect(onTarget.customFields).not.toHaveProperty('product');
        if (t.customFields.product) withProduct += 1;
      }
      expect(withProduct).toBeGreaterThan(0);
    } finally {
      await rt.close();
    }

    // Suggesting again from the edited file keeps the user's choices.
    const edited = text.replace('hold: pending', 'hold: open').replace(/Basic: Basic/, 'Basic: Pro');
    writeFileSync(out, edited);
    const again = captureOutput();
    expect(await suggestCommand(out, loadMigrationConfig(out), {}, again, m.env)).toBe(0);
    const second = parse(again.stdout.join('\n'));
    expect(second.options.statusMap.hold).toBe('open');
    // Enterprise is on the target now: the migration added it to the field.
    expect(second.mapping.values.product).toEqual({ Basic: 'Pro', Pro: 'Pro', Enterprise: 'Enterprise' });
    expect(second.mapping.fields.product).toBe('edition');
  });
});
