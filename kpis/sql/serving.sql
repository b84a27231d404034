-- Serving health by date, from the traffic-weighted columns of
-- kpis/sql/prediction_days.sql (the rel placeholder: that relation or its
-- daily rollup; days without traffic carry no serving columns).
SELECT
    {period_date:date} AS period_start,
    {group} AS grp,
    d.p95_w, d.p95_weight, d.p95_days,
    d.p99_w, d.p99_weight, d.p99_days,
    d.errors, d.errors_weight, d.errors_days,
    d.good_w, d.avail_w, d.avail_days
FROM {rel:predictions_daily} d
WHERE d.served_days IS NOT NULL {filters}
