-- Prediction (or request) volume by date: the rel placeholder is the relation
-- of kpis/sql/prediction_days.sql or its daily rollup (the same columns).
SELECT
    {period_date:date} AS period_start,
    {group} AS grp,
    d.rows,
    d.predictions
FROM {rel:predictions_daily} d
WHERE TRUE {filters}
