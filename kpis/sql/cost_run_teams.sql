-- The training runs of kpis/sql/costs.sql counted from the table cost_run_teams
-- (kpis/rollups.py), for a request grouped by team or not at all and filtered on
-- the team only: one row per period, group and currency whose run is the number
-- of distinct runs. A row whose run is the only row of its key (the run with its
-- currency, and its team when grouped by team) in the whole table is a run of its
-- own in any range or filter, so it is counted; only the other rows (a run over
-- several days or, ungrouped, several teams) are made distinct. Hashing every
-- (period, team, currency, run) took 40% of all KPIs by month and team.
SELECT period_start, grp, currency, NULL::DOUBLE, NULL::BIGINT, FALSE, FALSE,
       count(*) FILTER (WHERE single) + count(DISTINCT CASE WHEN NOT single THEN run_id END) AS run
FROM (
    SELECT {period_date:date} AS period_start, {group} AS grp, d.currency, d.run_id, {run_single} AS single
    FROM cost_run_teams d
    WHERE TRUE {filters}
)
GROUP BY period_start, grp, currency
