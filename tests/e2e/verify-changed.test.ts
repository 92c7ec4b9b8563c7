import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/sandbox/server.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { deltaCommand, migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { reconciliation } from '../../services/api/cutover.ts';
import { openRuntime } from '../../services/runtime/runtime.ts';
import { parseMigrationConfig, type MigrationConfig } from '../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

// `hdm verify --changed` and `hdm delta --verify`: what a delta wrote is re-checked on both sides, the
// rest of the latest verification carried over, and the verdict no longer turns stale after each pass.
describe('verification of what changed (zendesk → freshdesk)', () => {
  let m: MigrationEnv;
  let config: Readonly<MigrationConfig>;
  let source: ZendeskSandbox;
  let target: FreshdeskSandbox;

  const latest = async () => {
    const rt = await openRuntime(config, m.env);
    try {
      return (await reconciliation(rt.ledger)).verification;
    } finally {
      await rt.close();
    }
  };
  const targetIdOf = async (sourceId: string) => {
    const rt = await openRuntime(config, m.env);
    try {
      return Number((await rt.ledger.lookupIds('ticket', [sourceId])).get(sourceId)!.targetId);
    } finally {
      await rt.close();
    }
  };

  // Closed tickets cannot change at the source: an edit goes to the first open one not used yet.
  const used = new Set<number>();
  const editOpen = (changes: Record<string, unknown>): string => {
    for (let id = 1; id <= 20; id++) {
      if (used.has(id)) continue;
      try {
        source.updateTicket(id, changes);
        used.add(id);
        return String(id);
      } catch {
        used.add(id);
      }
    }
    throw new Error('no open ticket left');
  };

  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 20, seed: 41, maxComments: 3, immediateExports: 'Each delta reads changes made a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    config = parseMigrationConfig(m.config);
    source = m.source as ZendeskSandbox;
    target = m.target as FreshdeskSandbox;
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
  });
  afterAll(async () => m?.close());

  it('needs a verification to build on', async () => {
    await expect(verifyCommand(config, { changed: true, json: true }, captureOutput(), m.env)).rejects.toMatchObject({ code: 'NOT_READY' });
  });

  it('re-checks what a delta pass wrote and leaves the verdict fresh', async () => {
    expect(await verifyCommand(config, { json: true }, captureOutput(), m.env)).toBe(0);
    const base = (await latest())!;
    editOpen({ subject: 'Changed after the full run', tags: ['delta'] });
    source.createTicket({ subject: 'New after the full run', comment: { body: '<p>hello</p>', public: true } });

    const out = captureOutput();
    expect(await deltaCommand(config, { json: true, verify: true }, out, m.env)).toBe(0);
    const { verifyChanged } = JSON.parse(out.stdout[1]!);
    expect(verifyChanged).toMatchObject({ baseVerifyId: base.verifyId, clean: true });
    expect(verifyChanged.rechecked).toBeGreaterThanOrEqual(2);
    expect(verifyChanged.carried).toBeGreaterThan(15);
    expect(verifyChanged.statuses.ticket.ok).toBe(21);

    // The new verification is the latest and nothing was written after it: not "verify again".
    const now = (await latest())!;
    expect(now.verifyId).toBe(verifyChanged.verifyId);
    expect(now).toMatchObject({ clean: true, since: { writes: 0, conflicts: 0 } });
  });

  it('compares the changed records on the target, not only the ledger', async () => {
    const edited = editOpen({ subject: 'Edited at the source' });
    const pass = captureOutput();
    expect(await deltaCommand(config, { json: true }, pass, m.env)).toBe(0);
    // Someone edits the target's copy after the pass wrote it.
    target.updateTicket(await targetIdOf(edited), { subject: 'Edited on the target by hand' });

    const out = captureOutput();
    expect(await verifyCommand(config, { changed: true, json: true }, out, m.env)).toBe(1);
    const report = JSON.parse(out.stdout.join('\n'));
    expect(report.clean).toBe(false);
    expect(report.issues).toEqual([expect.objectContaining({ entity: 'ticket', sourceId: edited, status: 'mismatched' })]);
  });

  it('carries the earlier findings over: a record nobody touched since stays mismatched', async () => {
    // A ticket no pass has touched, edited on the target, found by a full verification.
    const untouched = '20';
    target.updateTicket(await targetIdOf(untouched), { subject: 'Edited on the target, never re-read' });
    expect(await verifyCommand(config, { json: true }, captureOutput(), m.env)).toBe(1);

    editOpen({ subject: 'Another source edit' });
    const out = captureOutput();
    expect(await deltaCommand(config, { json: true, verify: true }, out, m.env)).toBe(1);
    const { verifyChanged } = JSON.parse(out.stdout[1]!);
    expect(verifyChanged.clean).toBe(false);
    // Not re-checked (nothing touched it), yet still named in the new verification.
    expect(verifyChanged.issues.map((i: { sourceId: string }) => i.sourceId)).not.toContain(untouched);
    const rt = await openRuntime(config, m.env);
    try {
      const stored = (await rt.ledger.latestVerification())!;
      expect(stored.verifyId).toBe(verifyChanged.verifyId);
      expect(stored.rows.find((r) => r.entity === 'ticket' && r.sourceId === untouched)).toMatchObject({ status: 'mismatched' });
    } finally {
      await rt.close();
    }
    expect((await latest())!.clean).toBe(false);
  });
});
