-- One row per production deployment: its period, group and the columns the
-- delivery KPIs aggregate and the drill-down shows (kpis.details.deployments
-- selects from this relation, so its rows reproduce the KPIs). {lead_start} is
-- change_started_at or approved_at. A deployment is failed once, however many
-- incidents name it (so CFR <= 1); each reason is its own column.
-- Recovery (DORA's failed deployment recovery time) is needed by a deployment with status failed or
-- rolled_back, or named by an incident; it recovered at the first of: its rolled_back_at, the next successful
-- deployment of its service, the resolution of the last incident naming it (kpis/sql/deployment_facts.sql);
-- incidents all resolved before the deployment went out (exports that disagree) are not its recovery
-- (a rollback before it is refused at ingest).
-- Rework (DORA's deployment rework rate): an unplanned deployment made because of an incident: a hotfix, one
-- that names the incident it fixes (fixes_incident_id), or one an incident names as its fix (fix_deployment_id).
SELECT *,
       CASE WHEN recovered_at IS NOT NULL
            THEN date_diff('second', deployed_at, recovered_at) / CAST(3600 AS DOUBLE) END AS recovery_hours
FROM (
SELECT *, (status_failed OR hotfix OR regression OR incident_named) AS failed,
       (status_failed OR incident_named) AS recovery_needed,
       CASE WHEN status_failed OR incident_named
            THEN least(rolled_back_at, next_success_at,
                       CASE WHEN incidents_resolved_at >= deployed_at THEN incidents_resolved_at END) END
            AS recovered_at
FROM (
SELECT
    {period:deployed_at} AS period_start,
    {group} AS grp,
    d.deployment_id, d.deployed_at, d.service, d.team, d.model, d.model_version, d.tier,
    d.status,
    {local_date:deployed_at} AS deploy_day,
    CASE WHEN {lead_start} IS NOT NULL
         THEN CAST(date_diff('second', {lead_start}, d.deployed_at) AS DOUBLE) / 3600 END AS lead_time_hours,
    d.status IN ('failed', 'rolled_back') AS status_failed,
    coalesce(d.is_hotfix, FALSE) AS hotfix,
    coalesce(d.caused_regression, FALSE) AS regression,
    coalesce(f.incident_named, FALSE) AS incident_named,
    d.fixes_incident_id,
    (coalesce(d.is_hotfix, FALSE) OR d.fixes_incident_id IS NOT NULL OR coalesce(f.fix_named, FALSE)) AS rework,
    d.rolled_back_at, f.next_success_at, f.incidents_resolved_at
FROM deployments d
LEFT JOIN deployment_facts f ON f.deployment_id = d.deployment_id
WHERE d.environment = 'production' {filters}
)
)
