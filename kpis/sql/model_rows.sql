-- One row per model of an inventory snapshot, with the snapshot's date (its
-- as_of, else the day its batch was ingested) and whether the model is tier-1
-- (tier written tier-1, tier1, T1 or 1). The coverage KPIs (models.sql) and the
-- inventory drill-down (kpis.details.models_inventory) both read this relation.
SELECT
    m.*,
    coalesce(m.as_of, (SELECT max(l.ingested_at)::DATE FROM ingest_log l WHERE l.batch_id = m.batch_id)) AS snap,
    regexp_replace(lower(coalesce(m.tier, '')), '[^a-z0-9]', '', 'g') IN ('tier1', 't1', '1') AS is_tier1
FROM models m
