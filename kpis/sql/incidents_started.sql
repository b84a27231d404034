-- ML-related incidents by the period they started in.
SELECT
    {period:started_at} AS period_start,
    {group} AS grp,
    CASE WHEN d.detected_at IS NOT NULL
         THEN date_diff('second', d.started_at, d.detected_at) / 3600.0 END AS detect_hours,
    d.category = 'drift' AS is_drift
FROM incidents d
WHERE d.ml_related {filters}
