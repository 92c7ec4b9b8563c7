-- Failures by reason
-- Records whose latest load attempt failed, grouped by entity and error code, with one example each.
SELECT entity, error_code, count() AS records, any(source_id) AS example_source_id, any(error_message) AS example_message
FROM latest_outcomes
WHERE migration = {migration:String} AND outcome = 'failed'
GROUP BY entity, error_code
ORDER BY records DESC
