import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openLedger } from '../../../services/ledger/clickhouse-ledger.ts';
import { ledgerSuite } from './ledger-suite.ts';

// The embedded ClickHouse engine (chdb), in this process. clickhouse-server-ledger.test.ts runs the
// same suite over HTTP.
const dir = mkdtempSync(join(tmpdir(), 'hdm-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

ledgerSuite('embedded ClickHouse engine', (migration) => openLedger({ migration, path: dir, flushIntervalMs: 5 }), { sql: true });
