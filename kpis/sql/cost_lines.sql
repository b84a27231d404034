-- One row per cost line, in additive columns: every KPI over costs is a sum of
-- these (amount, lines) filtered on the key columns, so the same aggregates
-- read this relation or its daily rollups (kpis/rollups.py: costs_daily, the
-- sums per date and key; cost_runs_daily, the same per training run) and give
-- the same values. A line's run_id is kept for training lines only: the runs
-- are what training cost per run counts.
SELECT
    d.date, d.team, d.service, d.model, d.currency, d.category,
    CASE WHEN d.category = 'training' THEN d.run_id END AS run_id,
    (d.category = 'training' AND d.run_id IS NOT NULL) AS run_named,
    d.amount,
    1 AS lines
FROM costs d
