-- Load throughput per minute
-- Records loaded (created, updated, matched) per minute and entity over the last day, from load_attempts.
SELECT toStartOfMinute(attempt_at) AS minute, entity, count() AS loaded
FROM load_attempts
WHERE migration = {migration:String} AND outcome = 'loaded' AND attempt_at > now() - INTERVAL 1 DAY
GROUP BY minute, entity
ORDER BY minute, entity
