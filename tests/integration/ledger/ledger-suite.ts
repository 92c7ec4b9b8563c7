import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import type { Ledger } from '../../../services/ledger/ledger.ts';

/** A ledger that also answers data teams' SQL (the ClickHouse one, on either engine). */
export type SqlLedger = Ledger & Pick<ClickHouseLedger, 'query'>;

/**
 * The ledger's behaviour, asserted identically on each backend it runs on: `open(migration)` opens a
 * ledger of that migration on one shared database. With `{ sql: true }` the backend also answers SQL,
 * and the suite asserts the read-only guard on it; every ClickHouse run passes it.
 */
export function ledgerSuite(backend: string, open: (migration: string) => Promise<Ledger>): void;
export function ledgerSuite(backend: string, open: (migration: string) => Promise<SqlLedger>, options: { sql: true }): void;
export function ledgerSuite(backend: string, open: (migration: string) => Promise<Ledger>, options: { sql?: boolean } = {}): void {
  let ledger: Ledger;
  const sql = () => ledger as SqlLedger;

  beforeAll(async () => {
    ledger = await open('m1');
  });
  afterAll(async () => {
    await ledger?.close();
  });

  const attempt = (sourceId: string, outcome: 'loaded' | 'failed' | 'filtered', extra: Record<string, unknown> = {}) => ({
    runId: 'r1',
    entity: 'ticket' as const,
    sourceId,
    targetId: outcome === 'loaded' ? `t${sourceId}` : null,
    outcome,
    action: outcome === 'loaded' ? ('created' as const) : ('none' as const),
    rule: outcome === 'filtered' ? 'tag-filter' : null,
    errorCode: outcome === 'failed' ? 'REJECTED' : null,
    errorMessage: outcome === 'failed' ? 'subject is required' : null,
    checksum: null,
    durationMs: 1,
    ...extra,
  });

  describe(`ledger on the ${backend}`, () => {
    it("summarises per entity by each record's latest attempt", async () => {
      await ledger.recordSourceSeen('r1', ['1', '2', '3', '4', '5'].map((sourceId) => ({ entity: 'ticket', sourceId, updatedAt: '2026-01-01T00:00:00Z', deleted: false })));
      await Promise.all([attempt('1', 'loaded'), attempt('2', 'failed'), attempt('3', 'filtered'), attempt('4', 'failed')].map((a) => ledger.recordAttempt(a)));
      // A later attempt for 4 succeeds: it must count as loaded, not failed.
      await new Promise((r) => setTimeout(r, 5));
      await ledger.recordAttempt(attempt('4', 'loaded'));
      expect((await ledger.summary()).ticket).toEqual({ source: 5, loaded: 2, filtered: 1, failed: 1, notAttempted: 1 });
      const failures = await ledger.failures(10);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ entity: 'ticket', sourceId: '2', errorCode: 'REJECTED', errorMessage: 'subject is required' });
    });

    it("tells how far the loaders are with what one run's poller saw of one entity", async () => {
      const seen = (runId: string, ids: string[], deleted = false) =>
        ledger.recordSourceSeen(runId, ids.map((sourceId) => ({ entity: 'kbArticle', sourceId, updatedAt: '2026-01-01T00:00:00Z', deleted })));
      const article = (sourceId: string, runId: string, outcome: 'loaded' | 'failed' | 'filtered', action: string) =>
        ledger.recordAttempt({ ...attempt(sourceId, outcome), entity: 'kbArticle', runId, action: action as 'created' });
      await seen('p1', ['a1', 'a2', 'a3', 'a4', 'a5']);
      await seen('p1', ['a6'], true);
      // Another run's attempt does not settle this run's record.
      await Promise.all([article('a1', 'p1', 'loaded', 'created'), article('a2', 'p1', 'loaded', 'unchanged'), article('a3', 'p1', 'filtered', 'none'), article('a4', 'p0', 'loaded', 'created')]);
      expect(await ledger.runProgress('p1', 'kbArticle')).toEqual({ seen: 5, settled: 3, loaded: 2, filtered: 1, failed: 0, created: 1, updated: 0, matched: 0, unchanged: 1 });
      // A failure settles a record too; the latest attempt decides (a5 fails, then is matched).
      await article('a4', 'p1', 'failed', 'none');
      await article('a5', 'p1', 'failed', 'none');
      await new Promise((r) => setTimeout(r, 5));
      await article('a5', 'p1', 'loaded', 'matched');
      expect(await ledger.runProgress('p1', 'kbArticle')).toEqual({ seen: 5, settled: 5, loaded: 3, filtered: 1, failed: 1, created: 1, updated: 0, matched: 1, unchanged: 1 });
      expect(await ledger.runProgress('p2', 'kbArticle')).toMatchObject({ seen: 0, settled: 0 });
    });

    it('keeps the newest id map entry per record and streams them all', async () => {
      const base = { entity: 'contact' as const, runId: 'r1', created: true, sourceUpdatedAt: 'x', checksum: 'a', children: {}, deleted: false };
      await ledger.putId({ ...base, sourceId: 'c1', targetId: 'old' });
      await new Promise((r) => setTimeout(r, 5));
      await ledger.putId({ ...base, sourceId: 'c1', targetId: 'new', checksum: 'b', children: { x: 'y' } });
      await Promise.all(Array.from({ length: 300 }, (_, i) => ledger.putId({ ...base, sourceId: `z${i}`, targetId: `t${i}` })));
      const found = await ledger.lookupIds('contact', ['c1', 'missing']);
      expect(found.size).toBe(1);
      expect(found.get('c1')).toMatchObject({ targetId: 'new', checksum: 'b', children: { x: 'y' }, created: true });
      const all: string[] = [];
      for await (const e of ledger.idMap('contact')) all.push(e.sourceId);
      expect(all).toHaveLength(301);
      expect(new Set(all).size).toBe(301);
    });

    it('looks up source IDs that need quoting, and many at once', async () => {
      const base = { entity: 'organization' as const, runId: 'r1', created: true, sourceUpdatedAt: 'x', checksum: 'a', children: {}, deleted: false };
      const odd = ["o'brien", 'back\\slash', 'tab\there', 'line\nbreak', 'ünïcødé'];
      const many = Array.from({ length: 2000 }, (_, i) => `org-${String(i).padStart(6, '0')}`);
      await Promise.all([...odd, ...many].map((sourceId) => ledger.putId({ ...base, sourceId, targetId: `t-${sourceId}` })));
      const found = await ledger.lookupIds('organization', [...odd, ...many, 'absent']);
      expect(found.size).toBe(odd.length + many.length);
      for (const id of odd) expect(found.get(id)?.targetId).toBe(`t-${id}`);
    });

    it("records runs and replaces a run's row when it finishes", async () => {
      const run = { migration: 'm1', runId: 'full-1', kind: 'full' as const, status: 'running' as const, startedAt: '2026-11-01T10:00:00.000Z', finishedAt: null, cutoff: null, summary: {} };
      await ledger.saveRun(run);
      await ledger.saveRun({ ...run, status: 'succeeded', finishedAt: '2026-11-01T10:05:00.000Z', summary: { tickets: 3 } });
      const runs = await ledger.runs();
      expect(runs.filter((r) => r.runId === 'full-1')).toEqual([{ ...run, status: 'succeeded', finishedAt: '2026-11-01T10:05:00.000Z', summary: { tickets: 3 } }]);
    });

    it('streams only answered, live id-map entries, and of them what one run created', async () => {
      const base = { entity: 'group' as const, runId: 'u1', sourceUpdatedAt: 'x', checksum: 'a', children: {}, deleted: false };
      await Promise.all([
        ledger.putId({ ...base, sourceId: 'g1', targetId: 't1', created: true }),
        ledger.putId({ ...base, sourceId: 'g2', targetId: 't2', created: false }),
        ledger.putId({ ...base, sourceId: 'g3', targetId: '', created: false }),
        ledger.putId({ ...base, sourceId: 'g4', targetId: 't4', created: true, deleted: true }),
        ledger.putId({ ...base, sourceId: 'g5', targetId: 't5', created: true, runId: 'u0' }),
      ]);
      const group = (sourceId: string, runId: string, action: string, targetId: string) =>
        ledger.recordAttempt({ ...attempt(sourceId, 'loaded'), entity: 'group', runId, action: action as 'created', targetId });
      await Promise.all([group('g1', 'u1', 'created', 't1'), group('g2', 'u1', 'matched', 't2'), group('g4', 'u1', 'created', 't4'), group('g5', 'u0', 'created', 't5')]);
      const live: string[] = [];
      for await (const e of ledger.idMap('group')) live.push(e.sourceId);
      expect(live).toEqual(['g1', 'g2', 'g5']);
      const created: string[] = [];
      for await (const e of ledger.createdBy('u1', 'group')) created.push(e.sourceId);
      expect(created).toEqual(['g1']);
    });

    it("streams the source IDs still at the source, and each record's latest outcome", async () => {
      const seen = (ids: string[], deleted: boolean) => ledger.recordSourceSeen('s1', ids.map((sourceId) => ({ entity: 'agent', sourceId, updatedAt: 'x', deleted })));
      await seen(['a1', 'a2'], false);
      await seen(['a3'], true);
      await ledger.recordAttempt({ ...attempt('a1', 'failed'), entity: 'agent' });
      await ledger.recordAttempt({ ...attempt('a2', 'filtered'), entity: 'agent' });
      await new Promise((r) => setTimeout(r, 5));
      await seen(['a2'], true);
      await ledger.recordAttempt({ ...attempt('a1', 'loaded'), entity: 'agent' });
      const ids: string[] = [];
      for await (const id of ledger.sourceIds('agent')) ids.push(id);
      expect(ids).toEqual(['a1']);
      const outcomes = [];
      for await (const o of ledger.latestOutcomes('agent')) outcomes.push(o);
      expect(outcomes).toEqual([
        { sourceId: 'a1', outcome: 'loaded', rule: '', errorCode: '', errorMessage: '' },
        { sourceId: 'a2', outcome: 'filtered', rule: 'tag-filter', errorCode: '', errorMessage: '' },
      ]);
    });

    if (options.sql) {
      it('answers read-only SQL with the migration bound, and refuses writes there', async () => {
        const rows = await sql().query(`SELECT count() AS n FROM id_map FINAL WHERE migration = {migration:String} AND entity = 'contact'`, { readonly: true });
        expect(Number(rows[0].n)).toBe(301);
        await expect(sql().query('DROP TABLE runs', { readonly: true })).rejects.toThrow(/readonly/i);
        // The refusal lasted that one statement: the runs are still there, and writes go on.
        await ledger.saveRun({ migration: 'm1', runId: 'full-2', kind: 'full', status: 'running', startedAt: '2026-11-02T10:00:00.000Z', finishedAt: null, cutoff: null, summary: {} });
        expect((await ledger.runs()).map((r) => r.runId)).toEqual(['full-1', 'full-2']);
      });

      it('refuses, on every path that is not the engine\'s own, reads that reach a file, the network or a process (regression: the guard let them through)', async () => {
        let hits = 0;
        const server = createServer((_req, res) => {
          hits += 1;
          res.end('reached\n');
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
        try {
          // The engine itself can reach it: the refusal below is the guard's, not the engine's.
          expect(await sql().query(`SELECT * FROM url('${target}', 'LineAsString')`)).toEqual([{ line: 'reached' }]);
          const reached = hits;
          expect(reached).toBeGreaterThan(0);
          for (const statement of [
            `SELECT * FROM url('${target}', 'LineAsString')`,
            `SELECT * FROM \`url\`('${target}', 'LineAsString')`,
            `SELECT * FROM /* x */ URL ('${target}', 'LineAsString')`,
            `SELECT '--', * FROM url('${target}', 'LineAsString')`,
            `SELECT $$'$$ AS a, * FROM url('${target}', 'LineAsString') WHERE a != '$$'`,
            `SELECT * FROM file('/etc/hostname', 'LineAsString')`,
            `SELECT file('/etc/hostname')`,
            `SELECT * FROM executable('cat /etc/hostname', 'LineAsString', 'line String')`,
            `SELECT * FROM remote('127.0.0.1', system.one)`,
            `SELECT * FROM s3('${target}', 'LineAsString')`,
            'SELECT 1 SETTINGS readonly = 0',
            "SELECT 1 INTO OUTFILE 'out.txt'",
          ]) {
            await expect(sql().query(statement, { readonly: true }), statement).rejects.toMatchObject({ code: 'REJECTED', message: expect.stringMatching(/^readonly: /) });
          }
          expect(hits).toBe(reached);
          expect(await sql().query("SELECT 'url(x)' AS s, lower('FILE') AS f", { readonly: true })).toEqual([{ s: 'url(x)', f: 'file' }]);
        } finally {
          await new Promise((r) => server.close(r));
        }
      });
    }

    it('records who accepted which failure and why, tells whether each still fails, and takes a withdrawal', async () => {
      const category = (sourceId: string, outcome: 'loaded' | 'failed') => ledger.recordAttempt({ ...attempt(sourceId, outcome), entity: 'kbCategory' });
      await Promise.all([category('k1', 'failed'), category('k2', 'failed'), category('k3', 'failed')]);
      const accept = (sourceId: string, withdrawn = false) => ({ entity: 'kbCategory', sourceId, acceptedBy: 'ops-lead', reason: 'archived, not needed', acceptedAt: new Date().toISOString(), withdrawn });
      await ledger.acceptFailures([accept('k1'), accept('k2'), accept('k3')]);
      await new Promise((r) => setTimeout(r, 5));
      await category('k2', 'loaded');
      await ledger.acceptFailures([accept('k3', true)]);
      const rows = (await ledger.acceptances()).filter((a) => a.entity === 'kbCategory');
      expect(rows).toEqual([
        { entity: 'kbCategory', sourceId: 'k1', acceptedBy: 'ops-lead', reason: 'archived, not needed', acceptedAt: expect.any(String), withdrawn: false, failing: true },
        { entity: 'kbCategory', sourceId: 'k2', acceptedBy: 'ops-lead', reason: 'archived, not needed', acceptedAt: expect.any(String), withdrawn: false, failing: false },
      ]);
    });

    it('counts the writes to the target and the conflicts seen after an instant, and nothing else', async () => {
      await new Promise((r) => setTimeout(r, 5));
      const since = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      expect(await ledger.targetWritesSince(since)).toEqual({ writes: 0, conflicts: 0, lastAt: null });
      const section = (sourceId: string, extra: Record<string, unknown>) => ledger.recordAttempt({ ...attempt(sourceId, 'loaded'), entity: 'kbSection', ...extra });
      await section('s1', { action: 'unchanged' });
      await section('s2', { outcome: 'filtered', action: 'skipped', rule: 'tag-filter' });
      expect((await ledger.targetWritesSince(since)).writes).toBe(0);
      await section('s3', { action: 'updated' });
      await section('s4', { action: 'skipped', rule: 'conflict:skip' });
      await section('s5', { outcome: 'failed', action: 'none', errorCode: 'CONFLICT', errorMessage: 'edited on the target' });
      const seen = await ledger.targetWritesSince(since);
      expect(seen).toMatchObject({ writes: 1, conflicts: 2 });
      expect(Date.parse(seen.lastAt!)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(await ledger.targetWritesSince(new Date(Date.now() + 60_000).toISOString())).toEqual({ writes: 0, conflicts: 0, lastAt: null });
    });

    it('names the records attempted after an instant, each once, whatever the outcome', async () => {
      await new Promise((r) => setTimeout(r, 5));
      const since = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 5));
      expect(await ledger.attemptedSince(since)).toEqual([]);
      const group = (sourceId: string, extra: Record<string, unknown>) => ledger.recordAttempt({ ...attempt(sourceId, 'loaded'), entity: 'group', ...extra });
      await group('g2', { action: 'updated' });
      await group('g2', { action: 'unchanged' });
      await group('g1', { outcome: 'failed', action: 'none', errorCode: 'REJECTED', errorMessage: 'name taken' });
      expect(await ledger.attemptedSince(since)).toEqual([
        { entity: 'group', sourceId: 'g1' },
        { entity: 'group', sourceId: 'g2' },
      ]);
      expect(await ledger.attemptedSince(new Date(Date.now() + 60_000).toISOString())).toEqual([]);
    });

    it("counts one run's transformations by kind, from its load attempts", async () => {
      const ticket = (sourceId: string, runId: string, transforms?: string[]) => ledger.recordAttempt({ ...attempt(sourceId, 'loaded'), entity: 'kbArticle', runId, action: 'created', transforms });
      expect(await ledger.transformCounts('tr-1')).toEqual({});
      await ticket('x1', 'tr-1', ['sanitized', 'attachments-linked', 'attachments-linked']);
      await ticket('x2', 'tr-1', ['sanitized']);
      await ticket('x3', 'tr-1');
      await ticket('x4', 'tr-2', ['status-mapped']);
      expect(await ledger.transformCounts('tr-1')).toEqual({ 'attachments-linked': 2, sanitized: 2 });
      expect(await ledger.transformCounts('tr-2')).toEqual({ 'status-mapped': 1 });
    });

    it('keeps the latest verification with its rows, by the instant of its checks', async () => {
      const row = (verifyId: string, sourceId: string, status: 'ok' | 'missing', checkedAt?: string) => ({
        verifyId,
        entity: 'kbArticle' as const,
        sourceId,
        targetId: status === 'ok' ? `t${sourceId}` : '',
        status,
        expectedChecksum: 'e',
        actualChecksum: status === 'ok' ? 'e' : '',
        detail: '',
        ...(checkedAt ? { checkedAt } : {}),
      });
      await ledger.recordVerifications([row('v-old', 'a1', 'ok'), row('v-old', 'a2', 'missing')]);
      const first = await ledger.latestVerification();
      expect(first).toMatchObject({ verifyId: 'v-old' });
      expect(first!.rows.map((r) => [r.sourceId, r.status])).toEqual([
        ['a1', 'ok'],
        ['a2', 'missing'],
      ]);
      // A verification whose checks are dated (one that re-checked what changed) is the latest by that date.
      const at = new Date(Date.parse(first!.checkedAt) + 2000).toISOString();
      await ledger.recordVerifications([row('v-new', 'a1', 'ok', at), row('v-new', 'a2', 'ok', at)]);
      const latest = await ledger.latestVerification();
      expect(latest).toMatchObject({ verifyId: 'v-new', checkedAt: at });
      expect(latest!.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    });

    it('keeps migrations apart in one database', async () => {
      const other = await open('m2');
      try {
        expect(await other.summary()).toEqual({});
        expect(await other.lookupIds('contact', ['c1'])).toEqual(new Map());
      } finally {
        await other.close();
      }
    });
  });
}
