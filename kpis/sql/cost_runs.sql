-- The training runs of kpis/sql/costs.sql: one row per distinct run per period,
-- group and currency, with run = 1 and no amount (which costs far less than a
-- count(DISTINCT run_id) over every line), from the training runs' daily rollup
-- (or its events: the cost lines that name a run). A request grouped by team or
-- not at all reads kpis/sql/cost_run_teams.sql instead when its table is current.
SELECT period_start, grp, currency, NULL::DOUBLE, NULL::BIGINT, FALSE, FALSE, 1
FROM (
    SELECT DISTINCT {period_date:date} AS period_start, {group} AS grp, d.currency, d.run_id
    FROM {rel:cost_runs_daily} d
    WHERE TRUE {filters}
)
