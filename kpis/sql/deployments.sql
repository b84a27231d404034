-- One row per production deployment: its period, group and the columns the
-- delivery KPIs aggregate and the drill-down shows (kpis.details.deployments
-- selects from this relation, so its rows reproduce the KPIs). {lead_start} is
-- change_started_at or approved_at. A deployment is failed once, however many
-- incidents name it (so CFR <= 1); each reason is its own column.
SELECT *, (status_failed OR hotfix OR regression OR incident_named) AS failed
FROM (
SELECT
    {period:deployed_at} AS period_start,
    {group} AS grp,
    d.deployment_id, d.deployed_at, d.service, d.team, d.model, d.model_version, d.tier,
    d.status,
    CASE WHEN {lead_start} IS NOT NULL
         THEN CAST(date_diff('second', {lead_start}, d.deployed_at) AS DOUBLE) / 3600 END AS lead_time_hours,
    d.status IN ('failed', 'rolled_back') AS status_failed,
    coalesce(d.is_hotfix, FALSE) AS hotfix,
    coalesce(d.caused_regression, FALSE) AS regression,
    d.deployment_id IN (SELECT deployment_id FROM incident_links) AS incident_named
FROM deployments d
WHERE d.environment = 'production' {filters}
)
