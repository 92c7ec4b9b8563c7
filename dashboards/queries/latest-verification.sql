-- Latest verification
-- Verdicts of the most recent verification per entity and status (ok, missing, mismatched, duplicate, failed, filtered).
SELECT entity, status, count() AS records
FROM verifications
WHERE migration = {migration:String}
  AND verify_id = (SELECT argMax(verify_id, checked_at) FROM verifications WHERE migration = {migration:String})
GROUP BY entity, status
ORDER BY entity, status
