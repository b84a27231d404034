-- One row per pipeline run (training, batch scoring, feature, validation, CI),
-- with run_at, the moment it belongs to (when it started, or was scheduled for
-- when it never started), and duration_hours (finished_at - started_at, once
-- both are known). The pipeline KPIs (pipelines.sql) and the runs drill-down
-- (kpis.details.pipeline_runs) both read this relation.
SELECT
    r.*,
    coalesce(r.started_at, r.scheduled_at) AS run_at,
    CASE WHEN r.started_at IS NOT NULL AND r.finished_at IS NOT NULL
         THEN CAST(date_diff('second', r.started_at, r.finished_at) AS DOUBLE) / 3600 END AS duration_hours
FROM pipeline_runs r
