-- For each period of the spine (the periods as a relation: period_start, period_end): the ML-related
-- incidents (kpis/sql/incident_rows.sql) started before its end, and whether each was still unresolved at that
-- moment (the period's end, midnight in the reporting zone, converted to UTC).
SELECT
    e.period_start,
    {group} AS grp,
    (d.resolved_at IS NULL OR d.resolved_at >= e.end_utc) AS is_open
FROM (SELECT period_start, {utc:period_end} AS end_utc FROM {spine} p) e
JOIN {events:incident_rows} d ON d.started_at < e.end_utc
WHERE TRUE {filters}
