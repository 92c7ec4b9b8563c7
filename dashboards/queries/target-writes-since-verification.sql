-- Target writes since the latest verification
-- What made the verdict ask to verify again: loads that wrote to the target, and conflicts deltas found there, after the latest verification.
SELECT attempt_at, run_id, entity, source_id, target_id, outcome, action, rule, error_code
FROM load_attempts
WHERE migration = {migration:String}
  AND attempt_at > (SELECT max(checked_at) FROM verifications WHERE migration = {migration:String})
  AND ((outcome = 'loaded' AND action IN ('created', 'updated', 'matched', 'deleted')) OR startsWith(rule, 'conflict:') OR error_code = 'CONFLICT')
ORDER BY attempt_at DESC
LIMIT 1000
