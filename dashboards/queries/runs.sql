-- Runs and their durations
-- Every run of the migration (full, delta passes, verifications) with status and duration in seconds.
SELECT run_id, kind, status, started_at, finished_at,
  if(finished_at IS NULL, NULL, dateDiff('second', started_at, finished_at)) AS seconds
FROM runs FINAL
WHERE migration = {migration:String}
ORDER BY started_at DESC
LIMIT 200
