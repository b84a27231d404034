-- Cost lines by the date they were charged for, read from the rel placeholders:
-- the relation of kpis/sql/cost_lines.sql or its daily rollups (the same
-- columns, summed per date and key; the runs per date and run). Lines without
-- a category count as inference. Training cost per run is the cost of the
-- training lines that name a run over the number of distinct runs: each
-- distinct run (per period, group and currency) adds one row with run = 1 and
-- no amount, which costs far less than a count(DISTINCT run_id) over every line.
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
), runs AS (
    SELECT DISTINCT {period_date:date} AS period_start, {group} AS grp, d.currency, d.run_id
    FROM {rel:cost_runs_daily} d
    WHERE TRUE {filters}
)
SELECT
    period_start, grp, currency, amount, lines,
    coalesce(category, 'inference') = 'inference' AS is_inference,
    run_named AS is_training_run,
    NULL::INTEGER AS run
FROM lines
UNION ALL
SELECT period_start, grp, currency, NULL::DOUBLE, NULL::BIGINT, FALSE, FALSE, 1
FROM runs
