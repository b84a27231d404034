-- Prediction (or request) volume by date.
SELECT
    {period_date:date} AS period_start,
    {group} AS grp,
    d.predictions
FROM predictions d
WHERE TRUE {filters}
