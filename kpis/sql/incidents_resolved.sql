-- ML-related incidents by the period they were resolved in.
SELECT
    {period:resolved_at} AS period_start,
    {group} AS grp,
    date_diff('second', d.started_at, d.resolved_at) / 3600.0 AS recovery_hours
FROM incidents d
WHERE d.ml_related AND d.resolved_at IS NOT NULL {filters}
