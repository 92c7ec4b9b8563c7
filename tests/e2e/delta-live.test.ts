import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import { deltaCommand, migrateCommand, verifyCommand } from '../../services/cli/commands.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { captureOutput, migrationEnv, type MigrationEnv } from '../helpers/migration-env.ts';
import { RUNS_EXCEED_EXPORT_BUDGET } from '../helpers/sandbox-options.ts';

const HDM = fileURLToPath(new URL('../../bin/hdm.mjs', import.meta.url));

let m: MigrationEnv | null = null;
afterEach(async () => {
  await m?.close();
  m = null;
});

async function reconcile(env: MigrationEnv, config = parseMigrationConfig(env.config)) {
  const out = captureOutput();
  const code = await verifyCommand(config, { json: true }, out, env.env);
  return { code, report: JSON.parse(out.stdout.join('\n')) };
}

async function deltaPass(env: MigrationEnv, config = parseMigrationConfig(env.config)) {
  const out = captureOutput();
  const code = await deltaCommand(config, { json: true }, out, env.env);
  return { code, pass: JSON.parse(out.stdout[0]) };
}

/** Changes the source over HTTP, as agents at work would, until stopped. */
function startWriter(sandbox: ZendeskSandbox): { stop(): Promise<number> } {
  let ops = 0;
  let running = true;
  const mine: number[] = [];
  const post = (path: string, body: unknown, method = 'POST') =>
    fetch(`${sandbox.url}/__sandbox${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
  const loop = (async () => {
    while (running) {
      const pick = ops % 3;
      if (pick === 0 || mine.length === 0) {
        const t = (await post('/tickets', { subject: `Written during the run #${ops}`, comment: { body: `<p>opened while migrating ${ops}</p>`, public: true } })) as { ticket?: { id: number }; id?: number };
        mine.push(t.ticket?.id ?? t.id!);
      } else if (pick === 1) {
        await post(`/tickets/${mine[ops % mine.length]}/comments`, { body: `reply ${ops} während der Migration`, public: ops % 2 === 0 });
      } else {
        await post(`/tickets/${mine[ops % mine.length]}`, { subject: `Edited during the run #${ops}`, tags: [`edit${ops}`] }, 'PUT');
      }
      ops += 1;
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return ops;
    },
  };
}

describe('delta under live changes', () => {
  it('catches up with a source that kept changing during the whole full run', async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 120, seed: 31, articles: 2, maxComments: 6, immediateExports: 'The delta reads changes made a moment before', unthrottled: '120 tickets with up to 6 comments each, changed throughout the run are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '120 tickets with up to 6 comments each, changed throughout the run are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    const source = m.source as ZendeskSandbox;
    const config = parseMigrationConfig(m.config);
    const writer = startWriter(source);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const ops = await writer.stop();
    expect(ops).toBeGreaterThan(20);
    const { code: deltaCode } = await deltaPass(m, config);
    expect(deltaCode).toBe(0);
    const { code, report } = await reconcile(m, config);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(report.entities.ticket.source).toBe(source.counts().ticket);
    expect(code).toBe(0);
  });

  it('reads more than 1,000 tickets sharing one update timestamp, changes among them included', async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 1100, seed: 32, articles: 1, maxComments: 1, immediateExports: 'The delta reads changes made a moment before', unthrottled: '1,100 tickets with a comment each are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '1,100 tickets with a comment each are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    const source = m.source as ZendeskSandbox;
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const open = source.createTicket({ subject: 'one of the flood' });
    const flood = source.touch('ticket', 1050, new Date(Date.now() - 5_000));
    source.updateTicket(open.id, { subject: 'changed inside the flood' });
    source.touch('ticket', [...flood, open.id], new Date(Date.now() - 5_000));
    const { pass } = await deltaPass(m, config);
    expect(pass.counts.ticket.read).toBeGreaterThanOrEqual(1051);
    expect(pass.counts.ticket.created).toBe(1);
    const { code, report } = await reconcile(m, config);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ source: 1101, missing: 0, mismatched: 0, duplicates: 0 });
    expect(code).toBe(0);
  });

  it('records deletions, and applies them only when asked to', async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 10, seed: 33, articles: 1, maxComments: 1, immediateExports: 'The delta reads changes made a moment before', unthrottledExports: RUNS_EXCEED_EXPORT_BUDGET });
    const source = m.source as ZendeskSandbox;
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    const before = m.target.counts().ticket;
    const a = source.createTicket({ subject: 'to be deleted (kept)' });
    const b = source.createTicket({ subject: 'to be deleted (propagated)' });
    await deltaPass(m, config);
    expect(m.target.counts().ticket).toBe(before + 2);
    source.deleteTicket(a.id);
    await deltaPass(m, config);
    expect(m.target.counts().ticket).toBe(before + 2);
    source.deleteTicket(b.id);
    const propagating = parseMigrationConfig({ ...m.config, options: { propagateDeletes: true } });
    const { pass } = await deltaPass(m, propagating);
    expect(pass.counts.ticket.deleted).toBeGreaterThanOrEqual(1);
    // b is gone from the target; a was deleted before deletes were propagated and is applied now too.
    expect(m.target.counts().ticket).toBe(before);
    const { report } = await reconcile(m, propagating);
    expect(report.entities.ticket).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
  });

  it('survives a delta killed mid-pass: re-run, it ends clean with no duplicates', async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 150, seed: 34, articles: 1, maxComments: 8, immediateExports: 'The delta reads changes made a moment before', unthrottled: '150 tickets with up to 8 comments each, a delta killed and re-run are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, {}, { unthrottled: '150 tickets with up to 8 comments each, a delta killed and re-run are minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    const env = m;
    const source = m.source as ZendeskSandbox;
    const config = parseMigrationConfig(m.config);
    expect(await migrateCommand(config, { json: true, progress: false, verify: false }, captureOutput(), m.env)).toBe(0);
    for (let i = 0; i < 120; i++) source.createTicket({ subject: `after the full run ${i}`, comment: { body: `<p>new ${i}</p>`, public: true } });
    const loadedBefore = env.target.counts().ticket;
    // Killed once the pass has written some of the new tickets to the target, before it is done.
    const killed = await new Promise<boolean>((resolve) => {
      const child = spawn(process.execPath, [HDM, 'delta', '--config', env.configFile, '--json'], { env: env.env, stdio: ['ignore', 'ignore', 'pipe'] });
      const poll = setInterval(() => {
        if (env.target.counts().ticket >= loadedBefore + 10) child.kill('SIGKILL');
      }, 10);
      child.on('exit', (_code, signal) => {
        clearInterval(poll);
        resolve(signal === 'SIGKILL');
      });
    });
    expect(killed).toBe(true);
    const { code: rerun } = await deltaPass(m, config);
    expect(rerun).toBe(0);
    const { code, report } = await reconcile(m, config);
    expect(report.entities.ticket, JSON.stringify(report.issues)).toMatchObject({ missing: 0, mismatched: 0, duplicates: 0 });
    expect(m.target.counts().ticket).toBe(source.counts().ticket);
    expect(code).toBe(0);
  });
});
