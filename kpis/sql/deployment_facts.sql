-- What other events say of a production deployment, for kpis/sql/deployments.sql: one row per deployment that
-- an incident names (incident_named: kpis/sql/incident_links.sql), that an incident names as its fix
-- (fix_named: rework), or that needs recovering (next_success_at, incidents_resolved_at); deployments.sql
-- decides which deployments need recovering and takes the first of these moments. One row each: a join with
-- it cost far less than testing every deployment against the links twice and joining its recovery.
-- next_success_at: the next successful production deployment of the same service strictly after it;
-- incidents_resolved_at: when the last of the incidents that name it was resolved, null while any of them is
-- open or when none names it. Unfiltered: the deployment that recovers a failed one may belong to another
-- team. The next success is the dialect's (kpis.dialect.next_later: an ASOF join on DuckDB, a window
-- elsewhere) over the deployments that need recovering only (the others' recovery is never read) and, for a
-- request bounded in time, only those near its range and the successes from its start on
-- (engine._recovery_parts): a window over every deployment took a second on the benchmark's 1M. A request
-- that reads no recovery time leaves its part empty. Kept at ingest, unbounded, in the table
-- deployment_links (kpis/rollups.py), which the engine reads when it is current and no link window adds links.
SELECT deployment_id, max(incident_named) AS incident_named, max(fix_named) AS fix_named,
       max(next_success_at) AS next_success_at, max(incidents_resolved_at) AS incidents_resolved_at
FROM (
    SELECT deployment_id, TRUE AS incident_named, FALSE AS fix_named, CAST(NULL AS TIMESTAMP) AS next_success_at,
           CAST(NULL AS TIMESTAMP) AS incidents_resolved_at
    FROM incident_links
    UNION ALL
    SELECT f.fix_deployment_id, FALSE, TRUE, CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP)
    FROM incidents f WHERE f.fix_deployment_id IS NOT NULL
    UNION ALL
    SELECT n.id, FALSE, FALSE, n.next_at, r.incidents_resolved_at
    FROM ({next_success}) n
    LEFT JOIN (
        SELECT l.deployment_id,
               CASE WHEN count(*) = count(i.resolved_at) THEN max(i.resolved_at) END AS incidents_resolved_at
        FROM incident_links l
        JOIN incidents i ON i.incident_id = l.incident_id
        GROUP BY l.deployment_id
    ) r ON r.deployment_id = n.id
) u
GROUP BY deployment_id
