-- One row per production deployment: its period, group and the columns the
-- delivery KPIs aggregate. {lead_start} is change_started_at or approved_at.
-- A deployment is failed once, however many incidents name it (so CFR <= 1).
SELECT
    {period:deployed_at} AS period_start,
    {group} AS grp,
    d.status,
    CASE WHEN {lead_start} IS NOT NULL
         THEN date_diff('second', {lead_start}, d.deployed_at) / 3600.0 END AS lead_time_hours,
    (d.status IN ('failed', 'rolled_back')
        OR coalesce(d.is_hotfix, FALSE)
        OR coalesce(d.caused_regression, FALSE)
        OR d.deployment_id IN (SELECT deployment_id FROM incident_links)) AS failed
FROM deployments d
WHERE d.environment = 'production' {filters}
