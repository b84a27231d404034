-- The production model inventory as of the latest snapshot taken in each
-- period (a snapshot without as_of is dated the day it was ingested).
SELECT period_start, grp, monitored, drift_monitored, documented, is_tier1
FROM (
    SELECT
        {period_date:snap} AS period_start,
        {group} AS grp,
        d.monitored, d.drift_monitored, d.documented,
        regexp_replace(lower(coalesce(d.tier, '')), '[^a-z0-9]', '', 'g') IN ('tier1', 't1', '1') AS is_tier1,
        snap,
        max(snap) OVER (PARTITION BY {period_date:snap}) AS latest
    FROM (
        SELECT m.*, coalesce(m.as_of, (SELECT max(l.ingested_at)::DATE FROM ingest_log l
                                       WHERE l.batch_id = m.batch_id)) AS snap
        FROM models m
    ) d
    WHERE d.in_production {filters}
)
WHERE snap = latest
