-- ML-related incidents (kpis/sql/incident_rows.sql) by the period they were resolved in.
SELECT
    {period:resolved_at} AS period_start,
    {group} AS grp,
    d.recovery_hours
FROM {events:incident_rows} d
WHERE d.resolved_at IS NOT NULL {filters}
