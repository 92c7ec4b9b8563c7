import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { platform } from '../../connectors/registry.ts';
import type { RunningSandbox, SandboxOptions } from '../../connectors/sdk/platform.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { migrateCommand } from '../../services/cli/commands.ts';
import { followDelta } from '../../services/pipeline/delta.ts';
import type { RunResult } from '../../services/pipeline/pipeline.ts';
import { openLedger } from '../../services/ledger/clickhouse-ledger.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { captureOutput, deltaJson, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET, sandboxOptions } from '../helpers/sandbox-options.ts';

// Zendesk, "Using the Incremental Export API": the exports exclude "any items that were created or
// changed within the minute prior to your request". "Tickets" → "List Tickets": sort_by (updated_at among
// its values), sort_order asc|desc, cursor pagination; archived tickets are not in its answer.

let envs: MigrationEnv[] = [];
let extra: RunningSandbox[] = [];
afterEach(async () => {
  await Promise.allSettled([...envs.map((e) => e.close()), ...extra.map((s) => s.close())]);
  envs = [];
  extra = [];
});

async function migrate(m: MigrationEnv) {
  expect(await migrateCommand(parseMigrationConfig(m.config), { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
}

async function ledgerRows(m: MigrationEnv, sql: string): Promise<Record<string, unknown>[]> {
  const ledger = await openLedger({ migration: String(m.config.name), path: join(String(m.config.stateDir), 'ledger') });
  try {
    return (await ledger.query(sql)) as Record<string, unknown>[];
  } finally {
    await ledger.close();
  }
}

async function targetTicket(m: MigrationEnv, sourceId: string): Promise<Ticket | null> {
  const rt = await openRuntime(parseMigrationConfig(m.config), m.env);
  try {
    const mapped = (await rt.ledger.lookupIds('ticket', [sourceId])).get(sourceId);
    return mapped?.targetId ? ((await rt.target.get('ticket', mapped.targetId)) as Ticket) : null;
  } finally {
    await rt.close();
  }
}

const deltaTicketCursor = (m: MigrationEnv) =>
  (JSON.parse(readFileSync(join(String(m.config.stateDir), 'checkpoints.json'), 'utf8')) as { delta: { streams: Record<string, unknown> } }).delta.streams.ticket;

/** A second migration from the same source into its own target, with the fast lane off: what the export alone does. */
async function exportOnlyTwin(m: MigrationEnv): Promise<MigrationEnv> {
  const target = await (await platform('freshdesk')).startSandbox(sandboxOptions<SandboxOptions>({ tickets: 0, seed: 998, unthrottled: 'the twin only shows where the export alone leaves the cursor; its budget is not under test' }));
  extra.push(target);
  const stateDir = join(m.dir, 'state-twin');
  const config = {
    ...m.config,
    name: `${String(m.config.name)}-twin`,
    source: { ...(m.config.source as object), fastLane: false },
    target: { platform: 'freshdesk', url: target.url, concurrency: 8, credentials: { apiKey: { env: 'HDM_TWIN_FRESHDESK_API_KEY' } } },
    stateDir,
  };
  return { ...m, target, config, env: { ...m.env, HDM_TWIN_FRESHDESK_API_KEY: target.env.FRESHDESK_API_KEY }, close: async () => {} };
}

describe('delta fast lane (zendesk source, export exclusion on)', () => {
  it('loads a ticket changed at the source in the very next pass, though the export hides it for a minute', async () => {
    // The sandbox's default: the exports leave out the last 60 seconds.
    const m = await migrationEnv('zendesk', 'freshdesk', { tickets: 20, seed: 41, articles: 1, maxComments: 3, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    envs.push(m);
    const source = m.source as ZendeskSandbox;
    await migrate(m);

    source.updateTicket(4, { subject: 'Changed a moment ago', tags: ['fast-lane'] });
    source.addComment(4, { body: 'Written just now, before the export can show it', public: true });

    const pass = await deltaJson(m);
    expect(pass.code).toBe(0);
    expect(pass.pass.counts.ticket.updated).toBe(1);
    const copy = await targetTicket(m, '4');
    expect(copy?.subject).toBe('Changed a moment ago');
    expect(copy?.comments.filter((c) => c.body.includes('Written just now'))).toHaveLength(1);
    // The lane read List Tickets by updated_at, within its bucket.
    expect(source.requestsByRoute()['GET /api/v2/tickets']).toBeGreaterThan(0);
    expect(source.limitStats()['list-tickets']?.refused ?? 0).toBe(0);
  });

  it('applies a change both lanes read once, and leaves the export cursor where the export alone would, archived tickets included', async () => {
    const m = await migrationEnv('zendesk', 'freshdesk', {
      tickets: 20,
      seed: 42,
      articles: 1,
      maxComments: 3,
      unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET,
      shortExportLag: { seconds: 15, reason: 'the export catches up within the test: long enough that the first pass runs inside the exclusion, short enough not to wait a minute' },
    });
    envs.push(m);
    const twin = await exportOnlyTwin(m);
    const source = m.source as ZendeskSandbox;
    await migrate(m);
    await migrate(twin);

    source.updateTicket(6, { subject: 'Seen by both lanes', status: 'pending' });
    source.addComment(6, { body: 'One reply, carried once', public: true });
    // "Ticket Import" → archive_immediately: a closed ticket imported so is archived at once, left out of
    // List Tickets: only the export carries it.
    const auth = `Basic ${Buffer.from(`${source.credentials.email}/token:${source.credentials.apiToken}`).toString('base64')}`;
    const imported = await fetch(`${source.url}/api/v2/imports/tickets.json?archive_immediately=true`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ticket: { subject: 'Archived on import', status: 'closed', requester_id: source.store.owner.id, comments: [{ value: 'closed long ago', author_id: source.store.owner.id }] } }),
    });
    expect(imported.status).toBe(201);
    const archivedId = String(((await imported.json()) as { ticket: { id: number } }).ticket.id);

    // First pass, inside the exclusion: the fast lane carries ticket 6 now.
    const first = await deltaJson(m);
    expect(first.code).toBe(0);
    expect(first.pass.counts.ticket.updated).toBe(1);

    // Passes until the export shows the archived ticket to both migrations.
    for (let i = 0; i < 60; i++) {
      const [a, b] = [await deltaJson(m), await deltaJson(twin)];
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      // One embedded ledger open at a time in a process: one after the other.
      const loaded = `SELECT count() AS n FROM id_map FINAL WHERE entity = 'ticket' AND source_id = '${archivedId}' AND target_id != ''`;
      const mine = await ledgerRows(m, loaded);
      const theirs = await ledgerRows(twin, loaded);
      if (Number(mine[0]!.n) > 0 && Number(theirs[0]!.n) > 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    // One quiet pass each, past the exclusion: the export re-reads ticket 6 in its overlap window.
    const last = await deltaJson(m);
    await deltaJson(twin);
    expect(last.pass.counts.ticket.updated).toBe(0);
    expect(last.pass.counts.ticket.unchanged).toBeGreaterThanOrEqual(1);

    // One `updated` for ticket 6's one version, one `created` for the archived ticket.
    const six = await ledgerRows(m, `SELECT action, count() AS n FROM load_attempts WHERE entity = 'ticket' AND source_id = '6' AND run_id LIKE 'delta-%' AND outcome = 'loaded' GROUP BY action`);
    const byAction = Object.fromEntries(six.map((r) => [String(r.action), Number(r.n)]));
    expect(byAction.updated).toBe(1);
    expect(byAction.unchanged).toBeGreaterThanOrEqual(1);
    const archived = await ledgerRows(m, `SELECT action, count() AS n FROM load_attempts WHERE entity = 'ticket' AND source_id = '${archivedId}' AND outcome = 'loaded' GROUP BY action`);
    expect(Object.fromEntries(archived.map((r) => [String(r.action), Number(r.n)])).created).toBe(1);
    const copy = await targetTicket(m, '6');
    expect(copy?.subject).toBe('Seen by both lanes');
    expect(copy?.comments.filter((c) => c.body.includes('One reply, carried once'))).toHaveLength(1);
    expect(await targetTicket(m, archivedId)).not.toBeNull();

    // Nothing skipped, nothing moved: the export cursor is the one the export alone reached.
    expect(deltaTicketCursor(m)).toEqual(deltaTicketCursor(twin));
  });

  it('reads a second change that shares its updated_at second with a version the lane already handed on', async () => {
    // Zendesk's updated_at counts whole seconds ("Tickets" → JSON format: updated_at, ISO 8601 date-time
    // without fractions), so two changes within one second show one updated_at. The test pins both
    // versions to one second a little ahead of the engine's clock (the platform's clock may run ahead of
    // the client's), which keeps that second open for every read of the follow below.
    const m = await migrationEnv('zendesk', 'freshdesk', { tickets: 12, seed: 43, articles: 1, maxComments: 2, unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    envs.push(m);
    const source = m.source as ZendeskSandbox;
    await migrate(m);

    const second = new Date(Math.floor(Date.now() / 1000) * 1000 + 30_000);
    source.updateTicket(5, { subject: 'First change of the second' });
    source.touch('ticket', [5], second);

    const config = parseMigrationConfig(m.config);
    const rt = await openRuntime(config, m.env);
    const passes: RunResult[] = [];
    try {
      const controller = new AbortController();
      await followDelta(rt.deps(undefined, controller.signal), {
        intervalMs: 200,
        maxPasses: 2,
        onPass: (result) => {
          passes.push(result);
          if (passes.length === 1) {
            source.addComment(5, { body: 'Second change of the same second', public: true });
            source.touch('ticket', [5], second);
          }
        },
      });
      expect(passes).toHaveLength(2);
      expect(passes[0]!.counts.ticket!.updated).toBe(1);
      // The follow's second pass: the same reader, the same updated_at, a new version.
      expect(passes[1]!.counts.ticket!.updated).toBe(1);
      const mapped = (await rt.ledger.lookupIds('ticket', ['5'])).get('5')!;
      const copy = (await rt.target.get('ticket', mapped.targetId)) as Ticket;
      expect(copy.subject).toBe('First change of the second');
      expect(copy.comments.filter((c) => c.body.includes('Second change of the same second'))).toHaveLength(1);
    } finally {
      await rt.close();
    }
  });
});
