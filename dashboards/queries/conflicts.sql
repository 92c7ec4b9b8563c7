-- Conflicts found by deltas
-- Loads whose target copy had been edited on the target since the last load, and what the conflict policy did.
SELECT attempt_at, entity, source_id, target_id, action, rule
FROM load_attempts
WHERE migration = {migration:String} AND startsWith(rule, 'conflict:')
ORDER BY attempt_at DESC
LIMIT 500
