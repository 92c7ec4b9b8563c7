import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { platform } from '../../connectors/registry.ts';
import { readAll } from '../../connectors/sdk/read-all.ts';
import type { FreshdeskSandbox } from '../../connectors/freshdesk/index.ts';
import type { ZendeskSandbox } from '../../connectors/zendesk/index.ts';
import type { Ticket } from '../../schemas/canonical.ts';
import { parseMigrationConfig } from '../../schemas/config.ts';
import { buildApi, type Api } from '../../services/api/app.ts';
import type { CheckpointData } from '../../services/poller/checkpoint-store.ts';
import { HDM, hdm } from '../helpers/hdm-process.ts';
import { deltaJson, migrateJson, migrationEnv, verifyJson, type MigrationEnv } from '../helpers/migration-env.ts';

const DAY = 86_400_000;
// The seeded helpdesks end at 2026-06-01 (connectors/sdk/fake-helpdesk.ts): a window reaching 120 days
// behind that puts some solved and closed tickets in the working set by their age alone.
const recentDays = Math.ceil((Date.now() - Date.parse('2026-06-01T00:00:00Z')) / DAY) + 120;

const checkpointsOf = (m: MigrationEnv): CheckpointData => {
  const file = join(m.config.stateDir as string, 'checkpoints.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CheckpointData) : { full: null };
};

/** The source's tickets split as the run's working-set checkpoint fixed it. */
async function workingSetOf(m: MigrationEnv): Promise<{ working: Ticket[]; history: Ticket[] }> {
  const ws = checkpointsOf(m).full?.workingSet;
  if (!ws) throw new Error('the run left no working-set checkpoint');
  const source = (await platform(sourcePlatform(m))).createConnector({ url: m.source.url, credentials: m.source.credentials });
  try {
    const tickets = (await readAll(source, 'ticket')).flatMap((e) => (e.op === 'upsert' ? [e.record as Ticket] : []));
    const inSet = (t: Ticket) => ws.statuses.includes(t.status) || Date.parse(t.updatedAt) >= Date.parse(ws.recentSince);
    return { working: tickets.filter(inSet), history: tickets.filter((t) => !inSet(t)) };
  } finally {
    await source.close();
  }
}

const sourcePlatform = (m: MigrationEnv) => (m.config.source as { platform: string }).platform;
const targetPlatform = (m: MigrationEnv) => (m.config.target as { platform: string }).platform;

/** Target ticket ID of each source ticket, found by its stamp: both sandboxes number tickets in creation order. */
async function targetIdsOf(m: MigrationEnv, tickets: Ticket[]): Promise<Map<string, number>> {
  const target = (await platform(targetPlatform(m))).createConnector({ url: m.target.url, credentials: m.target.credentials });
  try {
    const out = new Map<string, number>();
    for (const t of tickets) {
      const ref = await target.find('ticket', t, `${sourcePlatform(m)}:${t.sourceId}`);
      if (ref) out.set(t.sourceId, Number(ref.targetId));
    }
    return out;
  } finally {
    await target.close();
  }
}

const expectCleanAndExact = async (m: MigrationEnv, tickets: number) => {
  const { code, report } = await verifyJson(m);
  for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
    expect(stats.missing, `${entity} missing`).toBe(0);
    expect(stats.duplicates, `${entity} duplicates`).toBe(0);
    expect(stats.mismatched, `${entity} mismatched: ${JSON.stringify(report.issues)}`).toBe(0);
  }
  expect(report.clean, JSON.stringify(report.issues)).toBe(true);
  expect(code).toBe(0);
  expect(m.target.counts().ticket).toBe(tickets);
  expect(m.target.counts().contact).toBe(m.source.counts().contact);
  expect(m.target.counts().organization).toBe(m.source.counts().organization);
};

describe('express order through the API: the working set first, then the history', () => {
  let m: MigrationEnv;
  let api: Api;
  let apiState: string;
  let headers: Record<string, string>;

  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 60, seed: 7, articles: 4, immediateExports: 'the resumed run and its verification read what the killed run wrote a moment before', unthrottled: 'express order over 60 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, { options: { order: 'express', express: { recentDays } } }, { unthrottled: 'express order over 60 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    apiState = mkdtempSync(join(tmpdir(), 'hdm-express-api-'));
    api = buildApi({ stateDir: apiState, configFiles: [m.configFile], env: m.env });
    headers = { authorization: `Bearer ${api.tokens.create('operator', 'express').token}` };
  });
  afterAll(async () => {
    await api?.app.close();
    await m?.close();
    if (apiState) rmSync(apiState, { recursive: true, force: true });
  });

  it('puts every open, pending and recent ticket on the target before any history ticket, says so in /progress, and reconciles clean', async () => {
    const name = m.config.name as string;
    const get = async (path: string) => (await api.app.inject({ method: 'GET', url: `/api/migrations/${name}${path}`, headers })).json();
    const started = await api.app.inject({ method: 'POST', url: `/api/migrations/${name}/runs`, headers, payload: { kind: 'full' } });
    expect(started.statusCode, started.body).toBe(202);

    // The first time /progress calls the working set complete: how many tickets the target holds then.
    let atComplete: number | null = null;
    let sawRunning = false;
    for (;;) {
      const progress = await get('/progress');
      if (progress.workingSet?.state === 'running') sawRunning = true;
      if (atComplete === null && progress.workingSet?.state === 'complete') atComplete = m.target.counts().ticket;
      if (!(await get('')).activeJob) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const job = (await get('')).jobs[0];
    expect(job, JSON.stringify(job)).toMatchObject({ kind: 'full', status: 'succeeded' });
    expect(sawRunning || atComplete !== null).toBe(true);
    expect(atComplete, 'progress never reported the working set complete').not.toBeNull();
    const final = await get('/progress');
    expect(final.workingSet).toMatchObject({ state: 'complete' });
    expect(Date.parse(final.workingSet.completedAt)).toBeGreaterThanOrEqual(Date.parse(final.workingSet.startedAt));

    const { working, history } = await workingSetOf(m);
    // Both ways into the working set are exercised: active statuses, and solved or closed but recent.
    expect(working.some((t) => t.status === 'solved' || t.status === 'closed')).toBe(true);
    expect(working.some((t) => t.status === 'open' || t.status === 'pending')).toBe(true);
    expect(history.length).toBeGreaterThan(0);
    expect(working.length + history.length).toBe(60);

    const ids = await targetIdsOf(m, [...working, ...history]);
    expect(ids.size).toBe(60);
    const lastWorking = Math.max(...working.map((t) => ids.get(t.sourceId)!));
    const firstHistory = Math.min(...history.map((t) => ids.get(t.sourceId)!));
    expect(lastWorking, 'a history ticket was created on the target before the working set was complete').toBeLessThan(firstHistory);
    // When /progress first said complete, the whole working set was there (created first, so the lowest IDs).
    expect(atComplete!).toBeGreaterThanOrEqual(working.length);

    await expectCleanAndExact(m, 60);
  });
});

describe('express order freshdesk → zendesk: the same clean reconciliation as entity order', () => {
  const COUNTED = ['group', 'organization', 'contact', 'ticketField', 'ticket', 'kbCategory', 'kbSection', 'kbArticle'] as const;
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('freshdesk', 'zendesk', { tickets: 60, seed: 7, articles: 6, unthrottled: 'express order over 60 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, { options: { order: 'express', express: { recentDays } } }, { immediateExports: 'verify reads the Zendesk target right after the migration wrote it', unthrottled: 'express order over 60 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
  });
  afterAll(async () => m?.close());

  it('moves every record once, reads each ticket\'s details once, reconciles clean, and a second run creates nothing', async () => {
    const before = m.target.counts();
    const source = m.source as FreshdeskSandbox;
    const requestsBefore = source.requestLog();
    const moved = await migrateJson(m, parseMigrationConfig({ ...m.config }), { verify: false });
    // Counted before anything else reads the source's tickets (as workingSetOf does).
    const requestsAfter = source.requestLog();
    expect(moved.code).toBe(0);
    expect(moved.result.run.summary.workingSet).toMatchObject({ complete: true });
    // The working-set pass leaves the history's tickets out before it views them and reads their
    // conversations, and the history leaves the working set's out: each ticket's details are read once,
    // but for the working-set tickets whose version lies within the overlap before the pass's cursor
    // (docs/pacing.md: the history reads those again, in case they were changed while the pass ended).
    const ws = checkpointsOf(m).full!.workingSet!;
    const { working } = await workingSetOf(m);
    const inOverlap = working.filter((t) => Date.parse(t.updatedAt) >= Date.parse(ws.coveredBefore!)).length;
    expect(inOverlap, 'the seeded working set is not all inside the overlap').toBeLessThan(working.length);
    const requests = (route: string) => (requestsAfter.get(route) ?? 0) - (requestsBefore.get(route) ?? 0);
    expect(requests('GET /api/v2/tickets/:id'), 'View a Ticket requests').toBe(60 + inOverlap);
    expect(requests('GET /api/v2/tickets/:id/conversations'), 'List All Conversations of a Ticket requests').toBe(60 + inOverlap);

    const { code, report: result } = await verifyJson(m);
    expect(result.clean, JSON.stringify(result.issues, null, 2)).toBe(true);
    expect(code).toBe(0);
    const sourceCounts = m.source.counts();
    const after = m.target.counts();
    for (const entity of COUNTED) {
      expect(result.entities[entity].source, entity).toBe(sourceCounts[entity]);
      expect(result.entities[entity], entity).toMatchObject({ missing: 0, duplicates: 0, mismatched: 0 });
      expect(after[entity] - before[entity], entity).toBe(moved.result.counts[entity].created);
    }
    expect(moved.result.counts.ticket.created).toBe(60);

    // The history came newest first: a newer window's tickets were created on the target before an older
    // one's. The next window is read while the last one's final records settle, so only the middle of each
    // window is held to it: the median creation rank of each window's tickets rises window by window. Windows as documented (README, docs/pacing.md): the last day before the run started,
    // the two days before, the four before those…; a ticket n days old falls in window floor(log2(n + 1)).
    const startedAt = Math.floor(Date.parse(checkpointsOf(m).full!.startedAt) / 1000) * 1000;
    const windowOf = (t: Ticket) => Math.floor(Math.log2((startedAt - Date.parse(t.updatedAt)) / DAY + 1));
    const { history } = await workingSetOf(m);
    const ids = await targetIdsOf(m, history);
    expect(ids.size).toBe(history.length);
    const windowsInCreationOrder = [...history].sort((a, b) => ids.get(a.sourceId)! - ids.get(b.sourceId)!).map(windowOf);
    expect(new Set(windowsInCreationOrder).size, 'the seeded history spans more than one window').toBeGreaterThan(1);
    const medianRank = (w: number) => {
      const ranks = windowsInCreationOrder.flatMap((x, rank) => (x === w ? [rank] : []));
      return (ranks[Math.floor((ranks.length - 1) / 2)] + ranks[Math.ceil((ranks.length - 1) / 2)]) / 2;
    };
    const seen = [...new Set(windowsInCreationOrder)].sort((a, b) => a - b);
    const medians = seen.map(medianRank);
    expect(medians, `median creation rank per window ${JSON.stringify(seen)}, in target creation order ${JSON.stringify(windowsInCreationOrder)}`).toEqual([...medians].sort((a, b) => a - b));

    const again = await migrateJson(m, parseMigrationConfig({ ...m.config }));
    expect(again.code).toBe(0);
    expect(m.target.counts()).toEqual(after);
    expect(again.result.counts.ticket.created).toBe(0);
  });
});

/** `hdm migrate` in its own process, killed with SIGKILL once `killWhen` holds (checked every 10 ms), unless it ends first. */
function migrateUntil(m: MigrationEnv, killWhen: (() => boolean) | null): Promise<{ code: number | null; killed: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HDM, 'migrate', '--config', m.configFile, '--no-verify', '--no-progress', '--json'], { env: m.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let killed = false;
    const timer = killWhen
      ? setInterval(() => {
          if (!killed && killWhen()) {
            killed = true;
            child.kill('SIGKILL');
          }
        }, 10)
      : null;
    child.on('exit', (code) => {
      if (timer) clearInterval(timer);
      resolve({ code, killed, stderr });
    });
  });
}

describe('express order killed mid working set and mid history, then resumed', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('zendesk', 'freshdesk', { tickets: 150, seed: 21, articles: 4, immediateExports: 'the resumed run and its verification read what the killed run wrote a moment before', unthrottled: 'express order over 150 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, { options: { order: 'express', express: { recentDays } } }, { unthrottled: 'express order over 150 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
    writeFileSync(m.configFile, stringify(m.config));
  });
  afterAll(async () => m?.close());

  it('creates nothing twice, misses nothing, and carries a working-set ticket changed after the working set moved', async () => {
    // Killed while the working set is half on the target.
    const first = await migrateUntil(m, () => {
      const ws = checkpointsOf(m).full?.workingSet;
      return Boolean(ws && !ws.done && m.target.counts().ticket >= 10);
    });
    expect(first.killed, `the run ended before its working set was half moved: ${first.stderr}`).toBe(true);
    expect(checkpointsOf(m).full?.workingSet?.done).toBe(false);

    // Resumed, and killed again as soon as the working set is complete: the history is still to come.
    const second = await migrateUntil(m, () => Boolean(checkpointsOf(m).full?.workingSet?.done));
    expect(second.killed, `the run ended before it could be stopped after its working set: ${second.stderr}`).toBe(true);
    expect(checkpointsOf(m).full?.streams.ticket?.done ?? false).toBe(false);

    // A working-set ticket changes at the source once the working set is on the target: the pass over
    // the history, which leaves out what the working set moved, must still carry the new version.
    const { working } = await workingSetOf(m);
    const changed = working.find((t) => t.status === 'open' || t.status === 'pending')!;
    (m.source as ZendeskSandbox).updateTicket(Number(changed.sourceId), { subject: 'Changed once the working set had moved', status: 'solved' });

    const last = await migrateUntil(m, null);
    expect(last.code, last.stderr).toBe(0);
    expect(checkpointsOf(m).full).toMatchObject({ status: 'done', workingSet: { done: true } });

    await expectCleanAndExact(m, 150);
    const runs = await hdm(['runs', '-c', m.configFile], m.env);
    expect(runs.stdout).toMatch(/working set complete \d{4}-/);
  });
});

describe('express order freshdesk → zendesk killed inside the history windows, resumed, then a delta', () => {
  let m: MigrationEnv;
  beforeAll(async () => {
    m = await migrationEnv('freshdesk', 'zendesk', { tickets: 150, seed: 21, articles: 4, unthrottled: 'express order over 150 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' }, { options: { order: 'express', express: { recentDays } } }, { immediateExports: 'verify reads the Zendesk target right after the migration wrote it', unthrottled: 'express order over 150 tickets with their comments and articles is minutes of the Enterprise budget; pacing under the plan is proven by tests/integration/sdk/pacing.test.ts' });
  });
  afterAll(async () => m?.close());

  const expectClean = async () => {
    const { code, report } = await verifyJson(m);
    for (const [entity, stats] of Object.entries(report.entities) as [string, Record<string, number>][]) {
      expect(stats, entity).toMatchObject({ missing: 0, duplicates: 0, mismatched: 0 });
    }
    expect(report.clean, JSON.stringify(report.issues)).toBe(true);
    expect(code).toBe(0);
    expect(m.target.counts().ticket).toBe(150);
  };

  it('ends clean with each ticket once, carries a change made while the history moved, and leaves a delta only what changed since', async () => {
    const source = (await platform('freshdesk')).createConnector({ url: m.source.url, credentials: m.source.credentials });
    const tickets = (await readAll(source, 'ticket')).flatMap((e) => (e.op === 'upsert' ? [e.record as Ticket] : []));
    await source.close();
    // The oldest ticket: in the last window, the one read last.
    const oldest = [...tickets].sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt))[0];
    const sandbox = m.source as FreshdeskSandbox;

    // Killed inside the history: the newest window done, older ones still to read.
    let atWorkingSetDone: number | null = null;
    const first = await migrateUntil(m, () => {
      const ws = checkpointsOf(m).full?.workingSet;
      if (ws?.done && atWorkingSetDone === null) atWorkingSetDone = m.target.counts().ticket;
      const h = ws?.history;
      // As soon as the newest window is done: the older windows, which hold the seeded history, are still to come.
      if (!h || atWorkingSetDone === null || h.step < 1 || h.step >= h.windows.length) return false;
      // Changed at the source while the history moves: it leaves the oldest window for the newest.
      sandbox.updateTicket(Number(oldest.sourceId), { subject: 'Changed while the history moved' });
      return true;
    });
    expect(first.killed, `the run ended before it could be stopped inside its history: ${first.stderr}`).toBe(true);
    const killedAt = checkpointsOf(m).full!.workingSet!.history!;
    // Checked just before the kill; the run may have finished a window (not the tail) in between.
    expect(killedAt.step, 'killed after the history was done').toBeLessThanOrEqual(killedAt.windows.length);
    expect(checkpointsOf(m).full?.streams.ticket?.done ?? false).toBe(false);

    const last = await migrateUntil(m, null);
    expect(last.code, last.stderr).toBe(0);
    const full = checkpointsOf(m).full!;
    expect(full).toMatchObject({ status: 'done', workingSet: { done: true } });
    expect(full.workingSet!.history!.step).toBe(full.workingSet!.history!.windows.length + 1);
    // verify compares the target with the source as it is now: the changed subject is there.
    await expectClean();

    // The ticket stream's final state covers the run: a delta reads what changed since, not the history again.
    const later = tickets.find((t) => t.sourceId !== oldest.sourceId)!;
    sandbox.updateTicket(Number(later.sourceId), { subject: 'Changed after the run' });
    const { code, pass } = await deltaJson(m);
    expect(code).toBe(0);
    expect(pass.counts.ticket.read, JSON.stringify(pass.counts.ticket)).toBeLessThanOrEqual(3);
    expect(pass.counts.ticket.loaded).toBeGreaterThanOrEqual(1);
    await expectClean();
  });
});

describe('the express options', () => {
  it('default to entity order and a 30-day window of new, open, pending and on-hold tickets', () => {
    const config = parseMigrationConfig({ name: 'x', source: { platform: 'zendesk', url: 'https://a.zendesk.com' }, target: { platform: 'freshdesk', url: 'https://b.freshdesk.com' } });
    expect(config.options.order).toBe('entity');
    expect(config.options.express).toEqual({ recentDays: 30, statuses: ['new', 'open', 'pending', 'hold'] });
  });
});
