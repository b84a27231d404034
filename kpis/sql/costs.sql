-- Cost lines by the date they were charged for, read from the rel placeholder:
-- the relation of kpis/sql/cost_lines.sql or its daily rollup (the same
-- columns, summed per date and key). Lines without a category count as
-- inference. Training cost per run is the cost of the training lines that name
-- a run over the number of distinct runs, which kpis/sql/cost_runs.sql adds as
-- rows with run = 1 (only when a requested KPI counts runs).
WITH lines AS (
    SELECT
        {period_date:date} AS period_start,
        {group} AS grp,
        d.currency,
        d.amount,
        d.lines,
        d.category,
        d.run_named
    FROM {rel:costs_daily} d
    WHERE TRUE {filters}
)
SELECT
    period_start, grp, currency, amount, lines,
    coalesce(category, 'inference') = 'inference' AS is_inference,
    run_named AS is_training_run,
    NULL::INTEGER AS run
FROM lines
{union:cost_runs}
