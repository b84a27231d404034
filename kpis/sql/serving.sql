-- Serving health per service-day, weighted by its traffic (total_requests, else
-- predictions). Availability comes from good/total requests where given, else
-- from the availability ratio times the day's traffic.
SELECT
    {period_date:date} AS period_start,
    {group} AS grp,
    w,
    d.latency_p95_ms,
    d.latency_p99_ms,
    d.errors,
    CASE WHEN d.good_requests IS NOT NULL AND d.total_requests IS NOT NULL THEN d.good_requests::DOUBLE
         WHEN d.availability IS NOT NULL THEN d.availability * w END AS good_w,
    CASE WHEN (d.good_requests IS NOT NULL AND d.total_requests IS NOT NULL) OR d.availability IS NOT NULL
         THEN w END AS avail_w
FROM (SELECT *, coalesce(total_requests, predictions)::DOUBLE AS w FROM predictions) d
WHERE d.w > 0 {filters}
