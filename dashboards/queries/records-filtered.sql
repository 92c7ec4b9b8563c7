-- Filtered records
-- Records a mapping rule kept off the target, with the rule that filtered each.
SELECT o.entity AS entity, o.source_id AS source_id, '' AS target_id, o.rule AS reason, '' AS detail,
  o.attempts AS attempts, o.last_attempt_at AS last_attempt_at
FROM latest_outcomes AS o
WHERE o.migration = {migration:String} AND o.outcome = 'filtered'
ORDER BY reason, entity, last_attempt_at DESC
LIMIT 10000
