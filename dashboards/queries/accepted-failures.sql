-- Accepted failures
-- Failed records an operator accepted as they are, with who, why and when, and the record's latest error.
SELECT a.accepted_at AS accepted_at, a.entity AS entity, a.source_id AS source_id, a.accepted_by AS accepted_by, a.reason AS reason,
  o.outcome AS latest_outcome, o.error_code AS error_code, o.error_message AS error_message
FROM (SELECT * FROM failure_acceptances FINAL WHERE migration = {migration:String} AND withdrawn = 0) AS a
LEFT JOIN (SELECT entity, source_id, outcome, error_code, error_message FROM latest_outcomes WHERE migration = {migration:String}) AS o
  ON o.entity = a.entity AND o.source_id = a.source_id
ORDER BY accepted_at DESC
LIMIT 1000
