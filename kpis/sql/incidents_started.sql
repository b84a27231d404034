-- ML-related incidents (kpis/sql/incident_rows.sql) by the period they started in.
SELECT
    {period:started_at} AS period_start,
    {group} AS grp,
    d.detect_hours,
    d.is_drift
FROM {events:incident_rows} d
WHERE TRUE {filters}
