-- Pipeline runs (training, batch scoring, feature, validation, CI) by the
-- period they started in (or were scheduled for, when they never started).
SELECT
    {period:run_at} AS period_start,
    {group} AS grp,
    d.kind,
    d.status,
    d.on_time,
    d.data_fresh,
    d.validation_passed,
    d.reproducible,
    CASE WHEN d.started_at IS NOT NULL AND d.finished_at IS NOT NULL
         THEN date_diff('second', d.started_at, d.finished_at) / 3600.0 END AS duration_hours
FROM (SELECT *, coalesce(started_at, scheduled_at) AS run_at FROM pipeline_runs) d
WHERE TRUE {filters}
