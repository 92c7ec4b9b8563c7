/**
 * The reconciliation ledger's tables, in ClickHouse SQL. The same statements run on the embedded
 * engine and on a ClickHouse server. Data teams query these tables and views directly.
 */
export const LEDGER_TABLES: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS runs (
    migration String,
    run_id String,
    kind LowCardinality(String),
    status LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    finished_at Nullable(DateTime64(3, 'UTC')),
    cutoff Nullable(String),
    summary String,
    version UInt64
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (migration, run_id)`,

  `CREATE TABLE IF NOT EXISTS source_records (
    migration String,
    entity LowCardinality(String),
    source_id String,
    source_updated_at String,
    deleted UInt8,
    run_id String,
    seen_at DateTime64(3, 'UTC')
  ) ENGINE = ReplacingMergeTree(seen_at) ORDER BY (migration, entity, source_id)`,

  `CREATE TABLE IF NOT EXISTS id_map (
    migration String,
    entity LowCardinality(String),
    source_id String,
    target_id String,
    run_id String,
    created UInt8,
    source_updated_at String,
    checksum String,
    children String,
    deleted UInt8,
    written_at DateTime64(3, 'UTC'),
    planned_checksum String DEFAULT ''
  ) ENGINE = ReplacingMergeTree(written_at) ORDER BY (migration, entity, source_id)`,

  // Ledgers created before the column existed get it here; their rows read as '' (compared by checksum).
  `ALTER TABLE id_map ADD COLUMN IF NOT EXISTS planned_checksum String DEFAULT ''`,

  `CREATE TABLE IF NOT EXISTS load_attempts (
    migration String,
    run_id String,
    entity LowCardinality(String),
    source_id String,
    target_id String,
    outcome LowCardinality(String),
    action LowCardinality(String),
    rule String,
    error_code LowCardinality(String),
    error_message String,
    checksum String,
    attempt_at DateTime64(3, 'UTC'),
    duration_ms UInt32
  ) ENGINE = MergeTree ORDER BY (migration, entity, source_id, attempt_at)`,
  // The transformations the mapper applied to a record this attempt wrote (one kind per note); ledgers
  // created before the column read [] for their rows.
  `ALTER TABLE load_attempts ADD COLUMN IF NOT EXISTS transforms Array(LowCardinality(String)) DEFAULT []`,

  `CREATE TABLE IF NOT EXISTS dead_letters (
    migration String,
    run_id String,
    stage LowCardinality(String),
    entity LowCardinality(String),
    source_id String,
    error_code LowCardinality(String),
    error_message String,
    payload String,
    at DateTime64(3, 'UTC')
  ) ENGINE = MergeTree ORDER BY (migration, at)`,

  `CREATE TABLE IF NOT EXISTS verifications (
    migration String,
    verify_id String,
    entity LowCardinality(String),
    source_id String,
    target_id String,
    status LowCardinality(String),
    expected_checksum String,
    actual_checksum String,
    detail String,
    checked_at DateTime64(3, 'UTC')
  ) ENGINE = MergeTree ORDER BY (migration, verify_id, entity, source_id)`,

  // An operator's acceptance of a failed record, with who and why; the latest row per record wins (withdrawn = 1 takes it back).
  `CREATE TABLE IF NOT EXISTS failure_acceptances (
    migration String,
    entity LowCardinality(String),
    source_id String,
    accepted_by String,
    reason String,
    withdrawn UInt8,
    accepted_at DateTime64(3, 'UTC')
  ) ENGINE = ReplacingMergeTree(accepted_at) ORDER BY (migration, entity, source_id)`,

  // The latest attempt per record decides its outcome: a failure later fixed by a re-run counts as loaded.
  `CREATE VIEW IF NOT EXISTS latest_outcomes AS
    SELECT migration, entity, source_id,
      argMax(outcome, attempt_at) AS outcome,
      argMax(rule, attempt_at) AS rule,
      argMax(error_code, attempt_at) AS error_code,
      argMax(error_message, attempt_at) AS error_message,
      argMax(target_id, attempt_at) AS target_id,
      max(attempt_at) AS last_attempt_at,
      count() AS attempts
    FROM load_attempts GROUP BY migration, entity, source_id`,

  `CREATE VIEW IF NOT EXISTS reconciliation_summary AS
    SELECT s.migration AS migration, s.entity AS entity,
      countIf(s.deleted = 0) AS source,
      countIf(s.deleted = 0 AND o.outcome = 'loaded') AS loaded,
      countIf(s.deleted = 0 AND o.outcome = 'filtered') AS filtered,
      countIf(s.deleted = 0 AND o.outcome = 'failed') AS failed,
      countIf(s.deleted = 0 AND o.outcome = '') AS not_attempted
    FROM (SELECT * FROM source_records FINAL) AS s
    LEFT JOIN latest_outcomes AS o ON o.migration = s.migration AND o.entity = s.entity AND o.source_id = s.source_id
    GROUP BY s.migration, s.entity`,
];
