-- When each production deployment could have recovered, for kpis/sql/deployments.sql (which decides which
-- deployments need recovering and takes the first of these moments): next_success_at, the next successful
-- production deployment of the same service strictly after it; incidents_resolved_at, when the last of the
-- incidents that name it (kpis/sql/incident_links.sql) was resolved, null while any of them is open or when
-- none names it. Unfiltered: the deployment that recovers a failed one may belong to another team. Only the
-- deployments that need recovering are marked (the others' recovery is never read), and a request bounded
-- in time ({recovery_within}: the deployments near its range, {recovery_since}: the successes from its
-- start on, which may lie after the range) sorts only those: over every deployment this took a second on
-- the benchmark's 1M.
SELECT n.deployment_id, n.next_success_at, r.incidents_resolved_at
FROM (
    -- Successful deployments as marks (kind 0) sorted before the deployments at the same moment (kind 1), so
    -- the rows after a deployment hold only successes strictly later than it.
    SELECT m.deployment_id, m.kind,
           min(m.success_at) OVER (PARTITION BY m.service ORDER BY m.at, m.kind
                                   ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_success_at
    FROM (
        SELECT p.service, p.deployed_at AS at, 0 AS kind, CAST(NULL AS VARCHAR) AS deployment_id,
               p.deployed_at AS success_at
        FROM deployments p
        WHERE p.environment = 'production' AND p.status = 'success' {recovery_since}
        UNION ALL
        SELECT p.service, p.deployed_at AS at, 1 AS kind, p.deployment_id, CAST(NULL AS TIMESTAMP) AS success_at
        FROM deployments p
        WHERE p.environment = 'production' {recovery_within}
          AND (p.status IN ('failed', 'rolled_back') OR p.deployment_id IN (SELECT deployment_id FROM incident_links))
    ) m
) n
LEFT JOIN (
    SELECT l.deployment_id,
           CASE WHEN count(*) = count(i.resolved_at) THEN max(i.resolved_at) END AS incidents_resolved_at
    FROM incident_links l
    JOIN incidents i ON i.incident_id = l.incident_id
    GROUP BY l.deployment_id
) r ON r.deployment_id = n.deployment_id
WHERE n.kind = 1
