-- Cost lines by the date they were charged for. Lines without a category count
-- as inference; training cost per run uses the training lines that name a run.
SELECT
    {period_date:date} AS period_start,
    {group} AS grp,
    d.currency,
    d.amount,
    coalesce(d.category, 'inference') = 'inference' AS is_inference,
    (d.category = 'training' AND d.run_id IS NOT NULL) AS is_training_run,
    d.run_id
FROM costs d
WHERE TRUE {filters}
