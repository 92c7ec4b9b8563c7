import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '../../../connectors/registry.ts';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import type { Agent, Ticket } from '../../../schemas/canonical.ts';
import { openLedger, type ClickHouseLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import { IdMapCache } from '../../../services/loader/id-map-cache.ts';
import { ReferenceResolver } from '../../../services/loader/reference-resolver.ts';
import { pickDefaultAgent } from '../../../services/loader/default-agent.ts';
import { readAll } from '../../../connectors/sdk/read-all.ts';

let dir: string;
let ledger: ClickHouseLedger;
let sandbox: RunningSandbox;
let source: Connector;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-default-agent-'));
  ledger = await openLedger({ migration: 'default-agent', path: dir });
  const zendesk = await platform('zendesk');
  sandbox = await zendesk.startSandbox({ tickets: 5, seed: 21 });
  source = zendesk.createConnector({ url: sandbox.url, credentials: sandbox.credentials });
});
afterAll(async () => {
  await sandbox?.close();
  await ledger?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the default agent', () => {
  // Regression: a cluster loader built its run's loader before the agent stream, remembered the default
  // agent as missing, and when the other loader migrated it never looked again: tickets of deactivated
  // agents went to nobody (assignee empty, notes by the API key's owner) in that loader only.
  it('is found by a loader that saw it missing once another loader migrated it', async () => {
    const agents = (await readAll(source, 'agent')).map((e) => e.record as Agent);
    const admin = agents.find((a) => a.active && !a.deleted && a.role === 'admin')!;
    const inactive = agents.find((a) => !a.active)!;
    const mine = new IdMapCache(ledger);
    const defaultAgent = await pickDefaultAgent({ source, target: source, defaultAgentEmail: null }, mine);
    expect(defaultAgent.targetId).toBeNull();

    await new IdMapCache(ledger).put({
      entity: 'agent',
      sourceId: admin.sourceId,
      targetId: 'T-admin',
      runId: 'r',
      created: true,
      sourceUpdatedAt: admin.updatedAt,
      checksum: 'c',
      children: {},
      deleted: false,
    });
    const resolver = new ReferenceResolver(mine, () => defaultAgent.current());
    const ticket = (await source.get('ticket', '1')) as Ticket;
    const { record, notes } = await resolver.resolve('ticket', { ...ticket, requesterId: null, assigneeId: inactive.sourceId, comments: [] });
    expect(record.assigneeId).toBe('T-admin');
    expect(notes.join('\n')).toContain(`assignee ${inactive.sourceId} is not a migrated agent; assigned to the default agent`);
  });
});
