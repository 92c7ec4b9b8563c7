import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deltaCommand, migrateCommand } from '../../../services/cli/commands.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';
import { openRuntime } from '../../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../../schemas/config.ts';
import type { Agent, Group, Ticket, TicketField } from '../../../schemas/canonical.ts';
import { platform } from '../../../connectors/registry.ts';
import type { ZendeskSandbox } from '../../../connectors/zendesk/index.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../../helpers/sandbox-options.ts';

/** Freshdesk's API as a user would call it, for setting up the target before the run. */
function freshdeskApi(m: MigrationEnv) {
  const auth = `Basic ${Buffer.from(`${m.target.credentials.apiKey}:X`).toString('base64')}`;
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${m.target.url}/api/v2/${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    expect(res.status, `${method} ${path}`).toBeLessThan(300);
    return res.json() as Promise<any>;
  };
}

const records = <T>(envelopes: { op: string; record: unknown }[]) => envelopes.flatMap((e) => (e.op === 'upsert' ? [e.record as T] : []));

describe('mapping rules over real sandboxes (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  let goneUser: string;
  let goneTicket: string;
  let existingAgent: Agent;
  const mapping = {
    options: { statusMap: { hold: 'open' }, priorityMap: { urgent: 'high' }, typeMap: { task: 'question' }, addTag: 'migrated', skipKb: true },
    mapping: {
      fields: { seats: null },
      values: { product: { Basic: 'Starter' } },
      defaults: { region: 'EU' },
      groups: { Billing: 'Finance' },
    },
    filters: { excludeTags: ['vip'] },
  };
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 40, seed: 21, articles: 3, maxComments: 3, immediateExports: 'The migration reads a ticket and a user made at the source just before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET }, mapping);
    const api = freshdeskApi(m);
    await api('POST', 'groups', { name: 'Finance', description: 'Money matters' });
    // An agent already working on the target under the same email as an active source agent.
    const sourceAgents = records<Agent>(await readAll((await platform('zendesk')).createConnector({ url: m.source.url, credentials: m.source.credentials }), 'agent'));
    existingAgent = sourceAgents.find((a) => a.active && !a.deleted && a.role !== 'admin')!;
    await api('POST', 'agents', { email: existingAgent.email, name: existingAgent.name, ticket_scope: 1 });
    // A customer who wrote on a ticket, then was deleted at the source: an author nothing matches.
    const zdAuth = `Basic ${Buffer.from(`${m.source.credentials.email}/token:${m.source.credentials.apiToken}`).toString('base64')}`;
    const zd = async (method: string, path: string, body?: unknown) =>
      (await fetch(`${m.source.url}/api/v2/${path}`, { method, headers: { authorization: zdAuth, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })).json() as Promise<any>;
    goneUser = String((await zd('POST', 'users.json', { user: { name: 'Gone Customer', email: 'gone@example.org', role: 'end-user' } })).user.id);
    const source = m.source as ZendeskSandbox;
    goneTicket = String(source.createTicket({ subject: 'Account removal', status: 'open', comment: { body: 'Please help', public: true } }).id);
    source.addComment(Number(goneTicket), { body: 'I am deleting my account', public: true, author_id: Number(goneUser) });
    await zd('DELETE', `users/${goneUser}.json`);
    await api('POST', 'admin/ticket_fields', { label: 'region', label_for_customers: 'Region', type: 'custom_dropdown', required_for_agents: true, choices: [{ value: 'EU', position: 1 }, { value: 'US', position: 2 }] });
  });
  afterAll(async () => m?.close());

  it('fails before any request to the target when the mapping names a source field, option or group that does not exist', async () => {
    const before = m.target.requestsServed();
    const config = parseMigrationConfig({
      ...m.config,
      options: { ...mapping.options, statusMap: { hold: 'hold' } },
      mapping: { fields: { no_such_field: 'x' }, values: { product: { Platinum: 'Gold' } }, groups: { Nowhere: 'Finance' } },
    });
    const err = await migrateCommand(config, { json: true, progress: false }, captureOutput(), m.env).catch((e) => e);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('mapping.fields.no_such_field');
    expect(err.message).toContain('no option "Platinum"');
    expect(err.message).toContain('no group "Nowhere"');
    expect(err.message).toContain('options.statusMap.hold: the target (freshdesk) has no value "hold"');
    expect(m.target.requestsServed()).toBe(before);
  });

  it('fails before any write when the mapping names a target group, field, value or agent that does not exist', async () => {
    const before = m.target.counts();
    const config = parseMigrationConfig({
      ...m.config,
      options: { ...mapping.options, defaultAgentEmail: 'nobody@nowhere.example' },
      mapping: { fields: { order_number: 'order_ref' }, groups: { Sales: 'Marketing' }, defaults: { region: 'Mars', no_field: 1 } },
    });
    const err = await migrateCommand(config, { json: true, progress: false }, captureOutput(), m.env).catch((e) => e);
    expect(err.code).toBe('CONFIG_INVALID');
    for (const part of ['mapping.fields.order_number', 'no group "Marketing"', 'mapping.defaults.region', 'mapping.defaults.no_field', 'nobody@nowhere.example']) {
      expect(err.message).toContain(part);
    }
    expect(m.target.counts()).toEqual(before);
  });

  it('applies every rule, lists re-assigned agents, creates missing fields with their types, and reconciles clean', async () => {
    const config = parseMigrationConfig(m.config);
    const out = captureOutput();
    const code = await migrateCommand(config, { json: true, progress: false }, out, m.env);
    const result = JSON.parse(out.stdout.join('\n'));
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);

    const rt = await openRuntime(config, m.env);
    try {
      const sourceTickets = records<Ticket>(await readAll(rt.source, 'ticket'));
      const sourceAgents = records<Agent>(await readAll(rt.source, 'agent'));
      const sourceGroups = records<Group>(await readAll(rt.source, 'group'));
      const targetGroups = records<Group>(await readAll(rt.target, 'group'));
      const targetFields = records<TicketField>(await readAll(rt.target, 'ticketField'));
      const outcomes = new Map<string, { outcome: string; rule: string }>();
      for await (const o of rt.ledger.latestOutcomes('ticket')) outcomes.set(o.sourceId, o);
      const ids = await rt.ledger.lookupIds('ticket', sourceTickets.map((t) => t.sourceId));
      const agentIds = await rt.ledger.lookupIds('agent', sourceAgents.map((a) => a.sourceId));

      // Fields: created with matching types and (mapped) options; the left-behind one is absent.
      const product = targetFields.find((f) => f.key === 'product')!;
      expect(product.type).toBe('dropdown');
      expect(product.options.map((o) => o.label).sort()).toEqual(['Enterprise', 'Pro', 'Starter']);
      for (const type of ['text', 'textarea', 'checkbox', 'date', 'decimal', 'multiselect'] as const) {
        expect(targetFields.some((f) => f.type === type), type).toBe(true);
      }
      expect(targetFields.find((f) => f.key === 'affected_channels')?.options.map((o) => o.label).sort()).toEqual(['Chat', 'Email', 'Phone']);
      expect(targetFields.some((f) => f.key === 'seats')).toBe(false);
      const plan = result.mapping.fields as { sourceKey: string; action: string; fallback: string | null }[];
      expect(plan.find((f) => f.sourceKey === 'serial_number')!.fallback).toMatch(/text field/);
      expect(plan.find((f) => f.sourceKey === 'affected_channels')!.fallback).toMatch(/dropdown/);
      expect(plan.find((f) => f.sourceKey === 'seats')!.action).toBe('left-behind');

      // Re-assigned agents: exactly the source's deactivated and deleted ones.
      const gone = sourceAgents.filter((a) => !a.active || a.deleted);
      expect(gone.length).toBeGreaterThan(0);
      const reassigned = result.mapping.reassigned as { sourceId: string; reason: string }[];
      expect(reassigned.filter((a) => a.reason !== 'unmatched').map((a) => a.sourceId).sort()).toEqual(gone.map((a) => a.sourceId).sort());
      expect(reassigned.filter((a) => a.reason === 'unmatched')).toEqual([expect.objectContaining({ sourceId: goneUser, reason: 'unmatched' })]);
      // Agents are matched by email: the one already on the target is found, not created again.
      expect(result.counts.agent.matched).toBe(1);
      const targetAgents = records<Agent>(await readAll(rt.target, 'agent'));
      expect(targetAgents.filter((a) => a.email === existingAgent.email)).toHaveLength(1);
      expect(agentIds.get(existingAgent.sourceId)).toMatchObject({ targetId: targetAgents.find((a) => a.email === existingAgent.email)!.sourceId, created: false });
      const defaultAgent = sourceAgents.find((a) => a.role === 'admin' && a.active)!;
      expect(result.mapping.defaultAgent).toBe(defaultAgent.email);
      const defaultAgentTarget = agentIds.get(defaultAgent.sourceId)!.targetId;

      const goneOnTarget = (await rt.target.get('ticket', ids.get(goneTicket)!.targetId)) as Ticket;
      const goneComment = goneOnTarget.comments.find((c) => c.body.includes('I am deleting my account'))!;
      expect(goneComment.authorId).toBe(defaultAgentTarget);

      const finance = targetGroups.find((g) => g.name === 'Finance')!;
      const billing = sourceGroups.find((g) => g.name === 'Billing')!;
      expect(targetGroups.some((g) => g.name === 'Billing')).toBe(false);

      let checked = 0;
      let vip = 0;
      for (const t of sourceTickets) {
        if (t.tags.includes('vip')) {
          vip += 1;
          expect(outcomes.get(t.sourceId)).toMatchObject({ outcome: 'filtered', rule: 'filter:excludeTags' });
          expect(ids.has(t.sourceId)).toBe(false);
          continue;
        }
        const onTarget = (await rt.target.get('ticket', ids.get(t.sourceId)!.targetId)) as Ticket;
        checked += 1;
        expect(onTarget.status).toBe(t.status === 'hold' ? 'open' : t.status === 'new' ? 'open' : t.status);
        if (t.priority === 'urgent') expect(onTarget.priority).toBe('high');
        if (t.type === 'task') expect(onTarget.type).toBe('question');
        if (t.customFields.product === 'Basic') expect(onTarget.customFields.product).toBe('Starter');
        expect(onTarget.customFields).not.toHaveProperty('seats');
        expect(onTarget.customFields.region).toBe('EU');
        expect(onTarget.tags).toContain('migrated');
        if (t.groupId === billing.sourceId) expect(onTarget.groupId).toBe(finance.sourceId);
        const assignee = sourceAgents.find((a) => a.sourceId === t.assigneeId);
        if (assignee && (!assignee.active || assignee.deleted)) expect(onTarget.assigneeId).toBe(defaultAgentTarget);
      }
      expect(vip).toBeGreaterThan(0);
      expect(checked).toBeGreaterThan(20);
      expect(sourceTickets.some((t) => t.status === 'hold' && !t.tags.includes('vip'))).toBe(true);

      // skipKb: nothing of the knowledge base reached the target, each article filtered by the option.
      expect(m.target.counts().kbArticle).toBe(0);
      expect(result.counts.kbArticle.filtered).toBe(m.source.counts().kbArticle);
    } finally {
      await rt.close();
    }
  });

  it('checks a mapping edited after the full run before a delta pass', async () => {
    const config = parseMigrationConfig({ ...m.config, mapping: { ...mapping.mapping, groups: { Billing: 'Accounts' } } });
    const before = m.target.counts();
    const err = await deltaCommand(config, { json: true }, captureOutput(), m.env).catch((e) => e);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('mapping.groups.Billing: the target (freshdesk) has no group "Accounts"');
    expect(m.target.counts()).toEqual(before);
  });
});
