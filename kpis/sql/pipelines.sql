-- Pipeline runs (kpis/sql/pipeline_rows.sql) by the period of their run_at.
SELECT
    {period:run_at} AS period_start,
    {group} AS grp,
    d.kind,
    d.status,
    d.on_time,
    d.data_fresh,
    d.validation_passed,
    d.reproducible,
    d.duration_hours
FROM {events:pipeline_rows} d
WHERE TRUE {filters}
