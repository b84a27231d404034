-- One row per ML-related incident (incidents with ml_related false count
-- nowhere), with the hours the reliability KPIs and the incident drill-downs
-- (kpis.details.incidents, worst_services) read: detect_hours (to detected_at),
-- recovery_hours (to resolved_at; null while open) and is_drift.
SELECT
    i.*,
    CASE WHEN i.detected_at IS NOT NULL
         THEN CAST(date_diff('second', i.started_at, i.detected_at) AS DOUBLE) / 3600 END AS detect_hours,
    CASE WHEN i.resolved_at IS NOT NULL
         THEN CAST(date_diff('second', i.started_at, i.resolved_at) AS DOUBLE) / 3600 END AS recovery_hours,
    i.category = 'drift' AS is_drift
FROM incidents i
WHERE i.ml_related
