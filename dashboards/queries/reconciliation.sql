-- Reconciliation per entity
-- Source records against their latest outcomes: loaded, filtered, failed, not yet attempted.
SELECT entity, source, loaded, filtered, failed, not_attempted
FROM reconciliation_summary
WHERE migration = {migration:String}
ORDER BY entity
