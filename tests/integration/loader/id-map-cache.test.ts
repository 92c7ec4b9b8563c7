import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger, type ClickHouseLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import type { IdMapEntry } from '../../../services/ledger/ledger.ts';
import { IdMapCache } from '../../../services/loader/id-map-cache.ts';

let dir: string;
let ledger: ClickHouseLedger;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hdm-idmap-'));
  ledger = await openLedger({ migration: 'ids', path: dir, flushIntervalMs: 200 });
});
afterAll(async () => {
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

const entry = (entity: IdMapEntry['entity'], sourceId: string, targetId: string, children: Record<string, string> = {}): IdMapEntry => ({
  entity,
  sourceId,
  targetId,
  runId: 'r',
  created: true,
  sourceUpdatedAt: '2026-01-01T00:00:00Z',
  checksum: 'c',
  children,
  deleted: false,
});

describe('IdMapCache over the embedded ledger', () => {
  it('never lets a query that raced a write replace what the write put', async () => {
    const cache = new IdMapCache(ledger);
    // The put is not flushed yet (200 ms batches): the ledger still answers "absent".
    const written = cache.put(entry('contact', 'c1', 'T1'));
    await cache.prefetch('contact', ['c1', 'c2']);
    expect(await cache.targetIds('contact', ['c1', 'c2'])).toEqual(new Map([['c1', 'T1']]));
    await written;
  });

  it('finds what an earlier process wrote, children included', async () => {
    await ledger.putId(entry('ticket', 't9', 'X9', { '1': '100', '2': '200' }));
    const fresh = new IdMapCache(ledger);
    expect(await fresh.get('ticket', 't9')).toMatchObject({ targetId: 'X9', children: { '1': '100', '2': '200' } });
    await fresh.prefetch('ticket', ['t9', 'nope']);
    expect(await fresh.get('ticket', 'nope')).toBeNull();
  });

  it('answers from memory within its capacity and from the ledger beyond it', async () => {
    const small = new IdMapCache(ledger, { refCapacity: 2, ticketCapacity: 2 });
    await Promise.all(['a', 'b', 'c'].map((id) => small.put(entry('group', id, `G${id}`))));
    // 'a' was evicted from memory; the ledger still knows it.
    expect(await small.targetIds('group', ['a', 'b', 'c'])).toEqual(new Map([['a', 'Ga'], ['b', 'Gb'], ['c', 'Gc']]));
  });

  // Two caches over one ledger stand for two cluster loaders: one loads what the other saw missing.
  it('believes a miss for missTtlMs only, then finds what another process loaded', async () => {
    const mine = new IdMapCache(ledger, { missTtlMs: 300 });
    const theirs = new IdMapCache(ledger);
    expect(await mine.targetIds('agent', ['a7'])).toEqual(new Map());
    await theirs.put(entry('agent', 'a7', 'T7'));
    expect(await mine.targetIds('agent', ['a7'])).toEqual(new Map());
    await new Promise((r) => setTimeout(r, 350));
    expect(await mine.targetIds('agent', ['a7'])).toEqual(new Map([['a7', 'T7']]));
    expect(await mine.get('agent', 'a7')).toMatchObject({ targetId: 'T7' });
  });

  it('asks the ledger again for a remembered miss when told to', async () => {
    const forever = new IdMapCache(ledger);
    const theirs = new IdMapCache(ledger);
    expect(await forever.targetIds('agent', ['a8'])).toEqual(new Map());
    await theirs.put(entry('agent', 'a8', 'T8'));
    expect(await forever.targetIds('agent', ['a8'])).toEqual(new Map());
    expect(await forever.targetIds('agent', ['a8'], { recheckMisses: true })).toEqual(new Map([['a8', 'T8']]));
    expect(await forever.targetIds('agent', ['a8'])).toEqual(new Map([['a8', 'T8']]));
  });
});
