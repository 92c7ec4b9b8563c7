import { afterEach, describe, expect, it } from 'vitest';
import { migrateCommand } from '../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { faultProxy, type FaultProxy, type FaultRule } from '../helpers/fault-proxy.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/sandbox/server.ts';

// Issue: "A create whose answer is lost is sent again". The target carries out a create, but its
// answer never reaches us (a dropped connection, a 502 from a proxy in between). Sending the create
// again made a second ticket every time; the record must be looked for on the target first.

let m: MigrationEnv | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await m?.close();
  m = proxy = undefined;
});

async function migrateThroughFaults(from: string, to: string, rules: FaultRule[]) {
  m = await migrationEnv(from, to, { tickets: 24, seed: 5, articles: 0, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, { entities: ['group', 'agent', 'organization', 'contact', 'ticketField', 'ticket'] }, { unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
  proxy = await faultProxy(m.target.url);
  for (const rule of rules) proxy.add(rule);
  const config = parseMigrationConfig({ ...m.config, target: { ...(m.config.target as object), url: proxy.url } });
  const out = captureOutput();
  const code = await migrateCommand(config, { json: true, progress: false }, out, m.env);
  const report = JSON.parse(out.stdout.join('\n'));
  return { code, report, out };
}

describe('a write whose answer is lost is not written twice', () => {
  it('zendesk → freshdesk: lost and 502-answered ticket and note creates leave one ticket per source ticket, each note once', async () => {
    const { code, report, out } = await migrateThroughFaults('zendesk', 'freshdesk', [
      { fault: { kind: 'lose-answer' }, method: 'POST', path: /^\/api\/v2\/tickets(\?|$)/, times: 3 },
      { fault: { kind: 'gateway-error' }, method: 'POST', path: /^\/api\/v2\/tickets(\?|$)/, times: 2 },
      { fault: { kind: 'lose-answer' }, method: 'POST', path: /^\/api\/v2\/tickets\/\d+\/notes/, times: 3 },
      { fault: { kind: 'lose-answer' }, method: 'POST', path: /^\/api\/v2\/contacts(\?|$)/, times: 2 },
    ]);
    expect(proxy!.counts()).toEqual({ 'lose-answer': 8, 'gateway-error': 2 });
    expect(code, out.stderr.join('\n')).toBe(0);
    expect(m!.target.counts().ticket).toBe(m!.source.counts().ticket);
    expect(m!.target.counts().contact).toBe(m!.source.counts().contact);
    for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
      expect(stats, `${entity}: ${JSON.stringify(report.issues)}`).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
    }
    expect(report.counts.ticket.created).toBe(m!.source.counts().ticket);
  });

  it('freshdesk → zendesk: a bulk import whose answer is lost is found by its stamps, not imported again', async () => {
    const { code, report, out } = await migrateThroughFaults('freshdesk', 'zendesk', [
      { fault: { kind: 'lose-answer' }, method: 'POST', path: /^\/api\/v2\/imports\/tickets\/create_many/, times: 1 },
      { fault: { kind: 'gateway-error' }, method: 'POST', path: /^\/api\/v2\/imports\/tickets\/create_many/, times: 1 },
      // A contact is one create_or_update: sent again after a lost answer, it updates the user the first one made.
      { fault: { kind: 'lose-answer' }, method: 'POST', path: /^\/api\/v2\/users\/create_or_update/, times: 2 },
      { fault: { kind: 'gateway-error' }, method: 'POST', path: /^\/api\/v2\/users\/create_or_update/, times: 1 },
    ]);
    expect(proxy!.counts()).toEqual({ 'lose-answer': 3, 'gateway-error': 2 });
    expect(code, out.stderr.join('\n')).toBe(0);
    expect(m!.target.counts().ticket).toBe(m!.source.counts().ticket);
    const stamped = [...(m!.target as ZendeskSandbox).store.users.values()].filter((u) => u.external_id?.startsWith('freshdesk:'));
    expect(stamped.length).toBe(new Set(stamped.map((u) => u.external_id)).size);
    for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
      expect(stats, `${entity}: ${JSON.stringify(report.issues)}`).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0, failed: 0 });
    }
  });
});
