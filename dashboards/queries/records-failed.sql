-- Failed records
-- Records whose latest load attempt failed: reason (error code and message), source and target IDs (the target's when it holds an earlier copy), and every load attempt the ledger holds for each.
SELECT o.entity AS entity, o.source_id AS source_id, if(o.target_id != '', o.target_id, i.target_id) AS target_id, o.error_code AS reason, o.error_message AS detail,
  o.attempts AS attempts, o.last_attempt_at AS last_attempt_at
FROM (SELECT * FROM latest_outcomes WHERE migration = {migration:String} AND outcome = 'failed') AS o
LEFT JOIN (SELECT entity, source_id, target_id FROM id_map FINAL WHERE migration = {migration:String} AND deleted = 0) AS i
  ON i.entity = o.entity AND i.source_id = o.source_id
ORDER BY reason, entity, last_attempt_at DESC
LIMIT 10000
