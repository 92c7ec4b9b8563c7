-- Missing records
-- Records the latest verification did not find on the target, with its detail, source and target IDs, and the load attempts the ledger holds for each.
SELECT v.entity AS entity, v.source_id AS source_id, v.target_id AS target_id, 'missing' AS reason, v.detail AS detail,
  o.attempts AS attempts, if(o.attempts = 0, NULL, o.last_attempt_at) AS last_attempt_at
FROM (SELECT entity, source_id, target_id, detail FROM verifications
      WHERE migration = {migration:String} AND status = 'missing'
        AND verify_id = (SELECT argMax(verify_id, checked_at) FROM verifications WHERE migration = {migration:String})) AS v
LEFT JOIN (SELECT entity, source_id, attempts, last_attempt_at FROM latest_outcomes WHERE migration = {migration:String}) AS o
  ON o.entity = v.entity AND o.source_id = v.source_id
ORDER BY entity, source_id
LIMIT 10000
