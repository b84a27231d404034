-- For each period: the ML-related incidents (kpis/sql/incident_rows.sql) started before its end, and whether
-- each was still unresolved at that moment (period ends converted to UTC).
SELECT
    e.period_start,
    {group} AS grp,
    (d.resolved_at IS NULL OR d.resolved_at >= e.end_utc) AS is_open
FROM (
    SELECT period_start, timezone('UTC', timezone($tz, period_end::TIMESTAMP)) AS end_utc
    FROM (SELECT unnest($spine_starts::DATE[]) AS period_start, unnest($spine_ends::DATE[]) AS period_end)
) e
JOIN {events:incident_rows} d ON d.started_at < e.end_utc
WHERE TRUE {filters}
