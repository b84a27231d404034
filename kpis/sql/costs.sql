-- Cost lines by the date they were charged for. Lines without a category count
-- as inference. Training cost per run is the cost of the training lines that
-- name a run over the number of distinct runs: each distinct run (per period,
-- group and currency) adds one row with run = 1 and no amount, which costs far
-- less than a count(DISTINCT run_id) over every line.
WITH lines AS (
    SELECT
        {period_date:date} AS period_start,
        {group} AS grp,
        d.currency,
        d.amount,
        d.category,
        d.run_id
    FROM costs d
    WHERE TRUE {filters}
)
SELECT
    period_start, grp, currency, amount,
    coalesce(category, 'inference') = 'inference' AS is_inference,
    (category = 'training' AND run_id IS NOT NULL) AS is_training_run,
    NULL::INTEGER AS run
FROM lines
UNION ALL
SELECT period_start, grp, currency, NULL::DOUBLE, FALSE, FALSE, 1
FROM (SELECT DISTINCT period_start, grp, currency, run_id FROM lines
      WHERE category = 'training' AND run_id IS NOT NULL)
