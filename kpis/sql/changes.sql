-- One row per change (kpis/schema.py CHANGES: a commit or pull request and the deployment that shipped it) whose
-- deployment is a production deployment: the deployment's period, group, status and filters are those of
-- kpis/sql/deployments.sql, read here as it is, so a change counts exactly where its deployment counts and the
-- catalog keeps the successful ones with the same rule as the per-deployment lead time. A change shipped by a
-- failed deployment and then by its retry is two rows; only the successful one is counted. Lead time per change
-- runs from its first commit (authored_at) to the deployment; its phases are coding (authored -> pull request
-- opened), review (opened -> merged) and merge to deploy (merged -> deployed); a phase without both of its
-- timestamps is null, never 0. kpis.details.changes selects from this relation, so its rows reproduce the KPIs.
SELECT
    dep.period_start, dep.grp, dep.status, dep.deployment_id, dep.deployed_at,
    dep.service, dep.team, dep.model,
    c.change_id, c.repo, c.authored_at, c.opened_at, c.merged_at,
    CAST(date_diff('second', c.authored_at, dep.deployed_at) AS DOUBLE) / 3600 AS change_lead_time_hours,
    CASE WHEN c.opened_at IS NOT NULL
         THEN CAST(date_diff('second', c.authored_at, c.opened_at) AS DOUBLE) / 3600 END AS coding_hours,
    CASE WHEN c.opened_at IS NOT NULL AND c.merged_at IS NOT NULL
         THEN CAST(date_diff('second', c.opened_at, c.merged_at) AS DOUBLE) / 3600 END AS review_hours,
    CASE WHEN c.merged_at IS NOT NULL
         THEN CAST(date_diff('second', c.merged_at, dep.deployed_at) AS DOUBLE) / 3600 END AS merge_to_deploy_hours
FROM changes c
JOIN {source:deployments} dep ON dep.deployment_id = c.deployment_id
