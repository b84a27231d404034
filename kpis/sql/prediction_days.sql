-- One row per prediction row (a service-day), in additive columns: every KPI
-- over predictions is a sum of these, so the same aggregates read this relation
-- or its daily rollup (predictions_daily, kpis/rollups.py) and give the same
-- values. Serving health is weighted by the day's traffic w (total_requests,
-- else predictions); a day without traffic (w 0 or unknown) has no serving
-- columns. Availability comes from good / total requests where given, else
-- from the availability ratio times the day's traffic.
SELECT
    d.date, d.team, d.service, d.model,
    1 AS rows,
    d.predictions,
    d.w,
    CASE WHEN d.w IS NOT NULL THEN 1 END AS served_days,
    CASE WHEN d.w IS NOT NULL THEN d.predictions END AS served_predictions,
    d.latency_p95_ms * d.w AS p95_w,
    CASE WHEN d.latency_p95_ms IS NOT NULL THEN d.w END AS p95_weight,
    CASE WHEN d.latency_p95_ms IS NOT NULL AND d.w IS NOT NULL THEN 1 END AS p95_days,
    d.latency_p99_ms * d.w AS p99_w,
    CASE WHEN d.latency_p99_ms IS NOT NULL THEN d.w END AS p99_weight,
    CASE WHEN d.latency_p99_ms IS NOT NULL AND d.w IS NOT NULL THEN 1 END AS p99_days,
    CASE WHEN d.w IS NOT NULL THEN d.errors END AS errors,
    CASE WHEN d.errors IS NOT NULL THEN d.w END AS errors_weight,
    CASE WHEN d.errors IS NOT NULL AND d.w IS NOT NULL THEN 1 END AS errors_days,
    CASE WHEN d.w IS NULL THEN NULL
         WHEN d.good_requests IS NOT NULL AND d.total_requests IS NOT NULL THEN d.good_requests::DOUBLE
         WHEN d.availability IS NOT NULL THEN d.availability * d.w END AS good_w,
    CASE WHEN d.w IS NOT NULL AND ((d.good_requests IS NOT NULL AND d.total_requests IS NOT NULL)
                                   OR d.availability IS NOT NULL) THEN d.w END AS avail_w,
    CASE WHEN d.w IS NOT NULL AND ((d.good_requests IS NOT NULL AND d.total_requests IS NOT NULL)
                                   OR d.availability IS NOT NULL) THEN 1 END AS avail_days
FROM (SELECT *, nullif(coalesce(total_requests, predictions)::DOUBLE, 0) AS w FROM predictions) d
