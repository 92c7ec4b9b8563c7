import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { resolve } from 'node:path';
import { HdmError } from '../../schemas/errors.ts';
import type { EntityName } from '../../schemas/canonical.ts';
import { LEDGER_TABLES } from '../../schemas/ledger.sql.ts';
import { DATABASE_NAME } from '../../schemas/config.ts';
import { privateDir } from '../common/private-files.ts';
import { redactor } from '../../schemas/redact.ts';
import type {
  DeadLetter,
  EntitySummary,
  FailureAcceptance,
  FailureRow,
  IdMapEntry,
  LoadAttempt,
  Ledger,
  Outcome,
  RunInfo,
  RunProgress,
  SourceSeen,
  StoredVerification,
  TargetWrites,
  VerificationRow,
} from './ledger.ts';

export interface LedgerOptions {
  /** Migration name; every row carries it, so migrations can share one database. */
  migration: string;
  /** ClickHouse server URL (e.g. `http://localhost:8123`); when absent the embedded engine runs in-process. */
  url?: string | null;
  /** Database on the server. Default `hdm`. */
  database?: string;
  username?: string;
  password?: string;
  /** Directory of the embedded engine's data. Required when `url` is absent. */
  path?: string;
  /** Rows buffered before a batch is written. Default 500. */
  batchSize?: number;
  /** Longest a row waits in the buffer, in milliseconds. Default 25. */
  flushIntervalMs?: number;
}

interface Pending {
  rows: Record<string, unknown>[];
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

const now = () => new Date().toISOString().replace('T', ' ').replace('Z', '');
const chTime = (iso: string) => iso.replace('T', ' ').replace('Z', '');
const isoTime = (ch: string) => (ch.includes('T') ? ch : `${ch.replace(' ', 'T')}Z`);

/** Opens the ledger: on a ClickHouse server when a URL is given, else on the in-process engine. */
export async function openLedger(options: LedgerOptions): Promise<ClickHouseLedger> {
  let client: ClickHouseClient;
  if (options.url) {
    const database = options.database ?? 'hdm';
    // Interpolated into CREATE DATABASE (an identifier cannot be a query parameter): the config checks it first, this is the second line.
    if (!DATABASE_NAME.test(database)) {
      throw new HdmError('CONFIG_INVALID', `ledger.database: a database name (a letter or "_", then letters, digits or "_", at most 64) (got ${JSON.stringify(database.slice(0, 80))})`, {
        context: { field: 'ledger.database' },
      });
    }
    // The client would also print every failed request with its stack to stderr; the ledger raises
    // each failure as one LEDGER_FAILED error instead, so the command line shows that alone.
    const server = { url: options.url, username: options.username, password: options.password, log: { level: ClickHouseLogLevel.OFF } };
    const bootstrap = createClient(server);
    try {
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    } catch (err) {
      // A ClickHouseError is the server's own answer (a refused login, a missing grant): it was reached.
      const what = err instanceof ClickHouseError ? `the ClickHouse server at ${redactUrl(options.url)} refused the ledger` : `cannot reach the ClickHouse server at ${redactUrl(options.url)}`;
      throw new HdmError('LEDGER_FAILED', `${what}: ${(err as Error).message}`, { cause: err });
    } finally {
      await bootstrap.close();
    }
    client = createClient({ ...server, database });
  } else {
    if (!options.path) throw new HdmError('CONFIG_INVALID', 'the embedded ledger needs a state directory');
    const dir = privateDir(resolve(options.path));
    const { createChdbConnection } = await import('chdb/connection');
    client = createClient({ connection: createChdbConnection({ path: dir }) } as Parameters<typeof createClient>[0]);
  }
  const ledger = new ClickHouseLedger(client, options);
  await ledger.init();
  return ledger;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

export class ClickHouseLedger implements Ledger {
  readonly migration: string;
  private readonly pending = new Map<string, Pending>();
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** On a ClickHouse server (true) or the embedded engine. */
  private readonly server: boolean;

  constructor(
    private readonly client: ClickHouseClient,
    options: LedgerOptions,
  ) {
    this.migration = options.migration;
    this.server = Boolean(options.url);
    this.batchSize = options.batchSize ?? 500;
    this.flushIntervalMs = options.flushIntervalMs ?? 25;
  }

  async init(): Promise<void> {
    for (const statement of LEDGER_TABLES) await this.client.command({ query: statement });
  }

  private enqueue(table: string, rows: Record<string, unknown>[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (redactor.size > 0) for (const row of rows) redactFreeText(row);
    let pending = this.pending.get(table);
    if (!pending) {
      pending = { rows: [], waiters: [] };
      this.pending.set(table, pending);
    }
    pending.rows.push(...rows);
    const done = new Promise<void>((resolve, reject) => pending!.waiters.push({ resolve, reject }));
    if (pending.rows.length >= this.batchSize) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
    return done;
  }

  /** Writes every buffered row; batches are written one after another, in order. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batches = [...this.pending.entries()];
    this.pending.clear();
    this.flushing = this.flushing.then(async () => {
      for (const [table, batch] of batches) {
        try {
          await this.client.insert({ table, values: batch.rows, format: 'JSONEachRow' });
          for (const waiter of batch.waiters) waiter.resolve();
        } catch (err) {
          const error = new HdmError('LEDGER_FAILED', `writing ${batch.rows.length} rows to ledger table ${table} failed: ${(err as Error).message}`, {
            cause: err,
            retryable: true,
          });
          for (const waiter of batch.waiters) waiter.reject(error);
        }
      }
    });
    return this.flushing;
  }

  private async rows<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const result = await this.client.query({ query, query_params: { migration: this.migration, ...params }, format: 'JSONEachRow' });
    return result.json<T>();
  }

  private async *stream<T>(query: string, params: Record<string, unknown>, pageSize = 50_000): AsyncIterable<T> {
    // Keyset pages keep memory flat on both engines.
    let after = '';
    for (;;) {
      const page = await this.rows<T & { source_id: string }>(`${query} AND source_id > {after:String} ORDER BY source_id LIMIT ${pageSize}`, {
        ...params,
        after,
      });
      for (const row of page) yield row as T;
      if (page.length < pageSize) return;
      after = page[page.length - 1].source_id;
    }
  }

  async saveRun(run: RunInfo): Promise<void> {
    await this.client.insert({
      table: 'runs',
      values: [
        {
          migration: this.migration,
          run_id: run.runId,
          kind: run.kind,
          status: run.status,
          started_at: chTime(run.startedAt),
          finished_at: run.finishedAt ? chTime(run.finishedAt) : null,
          cutoff: run.cutoff,
          summary: redactor.redact(JSON.stringify(run.summary)),
          version: Date.now() * 1000 + (run.finishedAt ? 1 : 0),
        },
      ],
      format: 'JSONEachRow',
    });
  }

  async runs(): Promise<RunInfo[]> {
    const rows = await this.rows<Record<string, string | null>>(
      `SELECT * FROM runs FINAL WHERE migration = {migration:String} ORDER BY started_at`,
    );
    return rows.map((r) => ({
      migration: r.migration as string,
      runId: r.run_id as string,
      kind: r.kind as RunInfo['kind'],
      status: r.status as RunInfo['status'],
      startedAt: isoTime(r.started_at as string),
      finishedAt: r.finished_at ? isoTime(r.finished_at) : null,
      cutoff: r.cutoff,
      summary: JSON.parse((r.summary as string) || '{}'),
    }));
  }

  async run(runId: string): Promise<RunInfo | null> {
    return (await this.runs()).find((r) => r.runId === runId) ?? null;
  }

  recordSourceSeen(runId: string, rows: SourceSeen[]): Promise<void> {
    const at = now();
    return this.enqueue(
      'source_records',
      rows.map((r) => ({
        migration: this.migration,
        entity: r.entity,
        source_id: r.sourceId,
        source_updated_at: r.updatedAt,
        deleted: r.deleted ? 1 : 0,
        run_id: runId,
        seen_at: at,
      })),
    );
  }

  async lookupIds(entity: EntityName, sourceIds: string[]): Promise<Map<string, IdMapEntry>> {
    const out = new Map<string, IdMapEntry>();
    if (sourceIds.length === 0) return out;
    const rows = await this.rows<Record<string, unknown>>(
      `SELECT * FROM id_map FINAL WHERE migration = {migration:String} AND entity = {entity:String} AND source_id IN {ids:Array(String)}`,
      { entity, ids: sourceIds },
    );
    for (const row of rows) out.set(row.source_id as string, toIdMapEntry(row));
    return out;
  }

  putId(entry: IdMapEntry): Promise<void> {
    return this.enqueue('id_map', [
      {
        migration: this.migration,
        entity: entry.entity,
        source_id: entry.sourceId,
        target_id: entry.targetId,
        run_id: entry.runId,
        created: entry.created ? 1 : 0,
        source_updated_at: entry.sourceUpdatedAt,
        checksum: entry.checksum,
        children: JSON.stringify(entry.children),
        deleted: entry.deleted ? 1 : 0,
        written_at: now(),
        planned_checksum: entry.plannedChecksum ?? '',
      },
    ]);
  }

  recordAttempt(a: LoadAttempt): Promise<void> {
    return this.enqueue('load_attempts', [
      {
        migration: this.migration,
        run_id: a.runId,
        entity: a.entity,
        source_id: a.sourceId,
        target_id: a.targetId ?? '',
        outcome: a.outcome,
        action: a.action,
        rule: a.rule ?? '',
        error_code: a.errorCode ?? '',
        error_message: a.errorMessage ?? '',
        checksum: a.checksum ?? '',
        attempt_at: now(),
        duration_ms: Math.max(0, Math.round(a.durationMs)),
        transforms: a.transforms ?? [],
      },
    ]);
  }

  deadLetter(d: DeadLetter): Promise<void> {
    return this.enqueue('dead_letters', [
      {
        migration: this.migration,
        run_id: d.runId,
        stage: d.stage,
        entity: d.entity,
        source_id: d.sourceId,
        error_code: d.errorCode,
        error_message: d.errorMessage,
        payload: d.payload,
        at: now(),
      },
    ]);
  }

  recordVerifications(rows: VerificationRow[]): Promise<void> {
    const at = now();
    return this.enqueue(
      'verifications',
      rows.map((r) => ({
        migration: this.migration,
        verify_id: r.verifyId,
        entity: r.entity,
        source_id: r.sourceId,
        target_id: r.targetId,
        status: r.status,
        expected_checksum: r.expectedChecksum,
        actual_checksum: r.actualChecksum,
        detail: r.detail,
        checked_at: r.checkedAt ? chTime(r.checkedAt) : at,
      })),
    );
  }

  async *idMap(entity: EntityName): AsyncIterable<IdMapEntry> {
    for await (const row of this.stream<Record<string, unknown>>(
      `SELECT * FROM id_map FINAL WHERE migration = {migration:String} AND entity = {entity:String} AND deleted = 0 AND target_id != ''`,
      { entity },
    )) {
      yield toIdMapEntry(row);
    }
  }

  async *createdBy(runId: string, entity: EntityName): AsyncIterable<IdMapEntry> {
    // 'matched' counts when the id map says created: a restarted run finding its own crashed create.
    // The pair with the target ID keeps a record that a later run created again out of this run's undo.
    for await (const row of this.stream<Record<string, unknown>>(
      `SELECT * FROM id_map FINAL WHERE migration = {migration:String} AND entity = {entity:String} AND deleted = 0 AND created = 1 AND target_id != ''
        AND (source_id, target_id) IN (SELECT source_id, target_id FROM load_attempts WHERE migration = {migration:String} AND entity = {entity:String} AND run_id = {run:String} AND action IN ('created', 'matched'))`,
      { entity, run: runId },
    )) {
      yield toIdMapEntry(row);
    }
  }

  async *sourceIds(entity: EntityName): AsyncIterable<string> {
    for await (const row of this.stream<{ source_id: string }>(
      `SELECT source_id FROM source_records FINAL WHERE migration = {migration:String} AND entity = {entity:String} AND deleted = 0`,
      { entity },
    )) {
      yield row.source_id;
    }
  }

  async *latestOutcomes(entity: EntityName): AsyncIterable<{ sourceId: string; outcome: Outcome; rule: string; errorCode: string; errorMessage: string }> {
    for await (const row of this.stream<Record<string, string>>(
      `SELECT source_id, outcome, rule, error_code, error_message FROM latest_outcomes WHERE migration = {migration:String} AND entity = {entity:String}`,
      { entity },
    )) {
      yield { sourceId: row.source_id, outcome: row.outcome as Outcome, rule: row.rule, errorCode: row.error_code, errorMessage: row.error_message };
    }
  }

  async summary(): Promise<Record<string, EntitySummary>> {
    await this.flush();
    const rows = await this.rows<Record<string, string | number>>(
      `SELECT entity, source, loaded, filtered, failed, not_attempted FROM reconciliation_summary WHERE migration = {migration:String}`,
    );
    const out: Record<string, EntitySummary> = {};
    for (const r of rows) {
      out[r.entity as string] = {
        source: Number(r.source),
        loaded: Number(r.loaded),
        filtered: Number(r.filtered),
        failed: Number(r.failed),
        notAttempted: Number(r.not_attempted),
      };
    }
    return out;
  }

  async runProgress(runId: string, entity: EntityName): Promise<RunProgress> {
    await this.flush();
    const [row] = await this.rows<Record<string, string | number>>(
      `SELECT count() AS seen, countIf(a.outcome != '') AS settled, countIf(a.outcome = 'loaded') AS loaded,
         countIf(a.outcome = 'filtered') AS filtered, countIf(a.outcome = 'failed') AS failed,
         countIf(a.outcome = 'loaded' AND a.action = 'created') AS created, countIf(a.outcome = 'loaded' AND a.action = 'updated') AS updated,
         countIf(a.outcome = 'loaded' AND a.action = 'matched') AS matched, countIf(a.outcome = 'loaded' AND a.action = 'unchanged') AS unchanged
       FROM (SELECT source_id FROM source_records FINAL
             WHERE migration = {migration:String} AND entity = {entity:String} AND run_id = {run:String} AND deleted = 0) AS s
       LEFT JOIN (SELECT source_id, argMax(outcome, attempt_at) AS outcome, argMax(action, attempt_at) AS action FROM load_attempts
             WHERE migration = {migration:String} AND entity = {entity:String} AND run_id = {run:String} GROUP BY source_id) AS a
       ON a.source_id = s.source_id`,
      { entity, run: runId },
    );
    return {
      seen: Number(row?.seen ?? 0),
      settled: Number(row?.settled ?? 0),
      loaded: Number(row?.loaded ?? 0),
      filtered: Number(row?.filtered ?? 0),
      failed: Number(row?.failed ?? 0),
      created: Number(row?.created ?? 0),
      updated: Number(row?.updated ?? 0),
      matched: Number(row?.matched ?? 0),
      unchanged: Number(row?.unchanged ?? 0),
    };
  }

  async failures(limit: number): Promise<FailureRow[]> {
    await this.flush();
    const rows = await this.rows<Record<string, string | number>>(
      `SELECT entity, source_id, error_code, error_message, attempts, last_attempt_at FROM latest_outcomes
       WHERE migration = {migration:String} AND outcome = 'failed' ORDER BY last_attempt_at DESC LIMIT {limit:UInt32}`,
      { limit },
    );
    return rows.map((r) => ({
      entity: String(r.entity),
      sourceId: String(r.source_id),
      errorCode: String(r.error_code),
      errorMessage: String(r.error_message),
      attempts: Number(r.attempts),
      lastAttemptAt: isoTime(String(r.last_attempt_at)),
    }));
  }

  async acceptFailures(rows: FailureAcceptance[]): Promise<void> {
    if (rows.length === 0) return;
    // Written at once, not batched: an operator's decision is read back by the next request.
    await this.client.insert({
      table: 'failure_acceptances',
      values: rows.map((r) => ({
        migration: this.migration,
        entity: r.entity,
        source_id: r.sourceId,
        accepted_by: r.acceptedBy,
        reason: redactor.redact(r.reason),
        withdrawn: r.withdrawn ? 1 : 0,
        accepted_at: chTime(r.acceptedAt),
      })),
      format: 'JSONEachRow',
    });
  }

  async acceptances(): Promise<(FailureAcceptance & { failing: boolean })[]> {
    await this.flush();
    const rows = await this.rows<Record<string, string | number>>(
      `SELECT a.entity AS entity, a.source_id AS source_id, a.accepted_by AS accepted_by, a.reason AS reason, a.accepted_at AS accepted_at,
         o.outcome = 'failed' AS failing
       FROM (SELECT * FROM failure_acceptances FINAL WHERE migration = {migration:String} AND withdrawn = 0) AS a
       LEFT JOIN (SELECT entity, source_id, outcome FROM latest_outcomes WHERE migration = {migration:String}) AS o
         ON o.entity = a.entity AND o.source_id = a.source_id
       ORDER BY entity, source_id`,
    );
    return rows.map((r) => ({
      entity: String(r.entity),
      sourceId: String(r.source_id),
      acceptedBy: String(r.accepted_by),
      reason: String(r.reason),
      acceptedAt: isoTime(String(r.accepted_at)),
      withdrawn: false,
      failing: Number(r.failing) === 1,
    }));
  }

  async targetWritesSince(since: string): Promise<TargetWrites> {
    await this.flush();
    const [row] = await this.rows<Record<string, string | number>>(
      `SELECT countIf(wrote) AS writes, countIf(conflict) AS conflicts, max(attempt_at) AS last_at FROM (
         SELECT attempt_at, outcome = 'loaded' AND action IN ('created', 'updated', 'matched', 'deleted') AS wrote,
           startsWith(rule, 'conflict:') OR error_code = 'CONFLICT' AS conflict
         FROM load_attempts WHERE migration = {migration:String} AND attempt_at > {since:DateTime64(3, 'UTC')})
       WHERE wrote OR conflict`,
      { since: chTime(since) },
    );
    const writes = Number(row?.writes ?? 0);
    const conflicts = Number(row?.conflicts ?? 0);
    return { writes, conflicts, lastAt: writes + conflicts > 0 && row?.last_at ? isoTime(String(row.last_at)) : null };
  }

  async attemptedSince(since: string): Promise<{ entity: EntityName; sourceId: string }[]> {
    await this.flush();
    const rows = await this.rows<{ entity: string; source_id: string }>(
      `SELECT DISTINCT entity, source_id FROM load_attempts WHERE migration = {migration:String} AND attempt_at > {since:DateTime64(3, 'UTC')} ORDER BY entity, source_id`,
      { since: chTime(since) },
    );
    return rows.map((r) => ({ entity: r.entity as EntityName, sourceId: r.source_id }));
  }

  async transformCounts(runId: string): Promise<Record<string, number>> {
    await this.flush();
    const rows = await this.rows<{ kind: string; n: string }>(
      `SELECT kind, count() AS n FROM load_attempts ARRAY JOIN transforms AS kind WHERE migration = {migration:String} AND run_id = {run:String} GROUP BY kind ORDER BY kind`,
      { run: runId },
    );
    return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
  }

  async latestVerification(): Promise<StoredVerification | null> {
    await this.flush();
    const [latest] = await this.rows<{ verify_id: string; last_checked: string }>(
      `SELECT verify_id, max(checked_at) AS last_checked FROM verifications WHERE migration = {migration:String} GROUP BY verify_id ORDER BY last_checked DESC LIMIT 1`,
      {},
    );
    if (!latest) return null;
    const rows = await this.rows<Record<string, string>>(
      `SELECT entity, source_id, target_id, status, expected_checksum, actual_checksum, detail, checked_at FROM verifications
       WHERE migration = {migration:String} AND verify_id = {verifyId:String} ORDER BY entity, source_id`,
      { verifyId: latest.verify_id },
    );
    return {
      verifyId: latest.verify_id,
      checkedAt: isoTime(String(latest.last_checked)),
      rows: rows.map((r) => ({
        verifyId: latest.verify_id,
        entity: r.entity as EntityName,
        sourceId: r.source_id!,
        targetId: r.target_id!,
        status: r.status as VerificationRow['status'],
        expectedChecksum: r.expected_checksum!,
        actualChecksum: r.actual_checksum!,
        detail: r.detail!,
        checkedAt: isoTime(String(r.checked_at)),
      })),
    };
  }

  /** Deletes every row of this migration from every table. */
  async purge(): Promise<void> {
    await this.flush();
    for (const table of ['runs', 'source_records', 'id_map', 'load_attempts', 'dead_letters', 'verifications', 'failure_acceptances']) {
      await this.client.command({
        query: `ALTER TABLE ${table} DELETE WHERE migration = {migration:String}`,
        query_params: { migration: this.migration },
        clickhouse_settings: { mutations_sync: '1' },
      });
    }
  }

  /**
   * Runs a SQL query for data teams (`hdm sql`, saved queries). `{migration:String}` in the text is
   * this migration; `readonly` (every query that is not the engine's own) refuses anything but one read
   * that stays inside the ledger.
   */
  async query(sql: string, options: { params?: Record<string, unknown>; readonly?: boolean } = {}): Promise<Record<string, unknown>[]> {
    await this.flush();
    // A server takes readonly per request. The embedded engine keeps a setting for its whole session
    // (it would stay read-only for the loads that follow), so there the statement itself is checked.
    // A reading statement can still reach files, the network or processes through table functions, and
    // a server's readonly=1 does not stop them: the statement is checked on both engines.
    const problem = options.readonly ? outsideQueryProblem(sql) : null;
    if (problem) throw new HdmError('REJECTED', `readonly: ${problem}`);
    const result = await this.client.query({
      query: sql,
      format: 'JSONEachRow',
      query_params: { migration: this.migration, ...options.params },
      ...(options.readonly && this.server ? { clickhouse_settings: { readonly: '1' } } : {}),
    });
    return result.json<Record<string, unknown>>();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.client.close();
  }
}

/**
 * Columns that carry text from platforms (error messages, payloads, details). Identifiers and
 * checksums are left alone: a short secret redacted as a word must never rewrite an ID.
 */
const FREE_TEXT_COLUMNS = ['error_message', 'payload', 'detail', 'rule', 'summary'] as const;

function redactFreeText(row: Record<string, unknown>): void {
  for (const column of FREE_TEXT_COLUMNS) {
    const value = row[column];
    if (typeof value === 'string') row[column] = redactor.redact(value);
  }
}

/**
 * Table functions (and the scalar `file`) that reach files, the network or processes. A reading
 * statement may still use them, so a query that is not the engine's own is refused when it names one.
 */
const OUTSIDE_REACH = new Set(
  [
    'file', 'fileCluster', 'url', 'urlCluster', 's3', 's3Cluster', 'gcs', 'oss', 'cosn', 'azureBlobStorage', 'azureBlobStorageCluster',
    'hdfs', 'hdfsCluster', 'remote', 'remoteSecure', 'cluster', 'clusterAllReplicas', 'executable', 'mysql', 'postgresql', 'sqlite',
    'mongodb', 'redis', 'jdbc', 'odbc', 'hudi', 'hudiCluster', 'deltaLake', 'deltaLakeCluster', 'deltaLakeS3', 'deltaLakeAzure',
    'deltaLakeLocal', 'iceberg', 'icebergS3', 'icebergAzure', 'icebergHDFS', 'icebergLocal', 'icebergCluster', 'icebergS3Cluster',
    'icebergAzureCluster', 'icebergHDFSCluster', 'paimon', 'paimonS3', 'paimonAzure', 'paimonHDFS', 'paimonLocal', 'input', 'arrowFlight',
    'arrowflight', 'ytsaurus', 'prometheusQuery', 'prometheusQueryRange', 'dictionary',
  ].map((name) => name.toLowerCase()),
);

/**
 * The statement with string literals emptied, comments blanked and quoted identifiers unquoted, in one
 * pass: stripping comments first would let `'--'` hide what follows it on the line.
 */
export function sqlSkeleton(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i];
    const two = sql.slice(i, i + 2);
    if (two === '--' || c === '#') {
      const end = sql.indexOf('\n', i);
      out += ' ';
      i = end === -1 ? sql.length : end;
    } else if (c === '$' && /^\$[A-Za-z0-9_]*\$/.test(sql.slice(i))) {
      // A heredoc string, $tag$…$tag$: a quote inside it must not open a string here.
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      out += "''";
      i = end === -1 ? sql.length : end + tag.length;
    } else if (two === '/*') {
      const end = sql.indexOf('*/', i + 2);
      out += ' ';
      i = end === -1 ? sql.length : end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      let text = '';
      for (; j < sql.length; j++) {
        if (sql[j] === '\\') {
          text += sql.slice(j, j + 2);
          j++;
        } else if (sql[j] === c && sql[j + 1] === c) {
          text += c;
          j++;
        } else if (sql[j] === c) break;
        else text += sql[j];
      }
      out += c === "'" ? "''" : ` ${text} `;
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Why a query from outside the engine (saved queries, `hdm sql`) may not run, or null when it may. */
export function outsideQueryProblem(sql: string): string | null {
  const text = sqlSkeleton(sql).trim().replace(/;\s*$/, '');
  if (/;/.test(text)) return 'only one statement may run here';
  if (!/^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i.test(text)) return 'only one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement may run here';
  if (/\bINTO\s+OUTFILE\b/i.test(text)) return 'INTO OUTFILE writes a file: not allowed here';
  if (/\bSETTINGS\b/i.test(text)) return 'SETTINGS may not change how the ledger runs a query from here';
  for (const m of text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) {
    if (OUTSIDE_REACH.has(m[1].toLowerCase())) return `${m[1]}() reaches files, the network or processes: not allowed here`;
  }
  return null;
}

/** One statement that only reads: comments and a final `;` aside, it starts with a reading keyword. */
export function isReadStatement(sql: string): boolean {
  const text = sqlSkeleton(sql).trim().replace(/;\s*$/, '');
  if (/;/.test(text) || /\bINTO\s+OUTFILE\b/i.test(text)) return false;
  return /^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i.test(text);
}

function toIdMapEntry(row: Record<string, unknown>): IdMapEntry {
  return {
    entity: row.entity as EntityName,
    sourceId: row.source_id as string,
    targetId: row.target_id as string,
    runId: row.run_id as string,
    created: Number(row.created) === 1,
    sourceUpdatedAt: row.source_updated_at as string,
    checksum: row.checksum as string,
    children: JSON.parse((row.children as string) || '{}'),
    deleted: Number(row.deleted) === 1,
    plannedChecksum: (row.planned_checksum as string | undefined) ?? '',
  };
}
