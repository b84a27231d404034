-- When each production deployment could have recovered, for kpis/sql/deployments.sql (which decides which
-- deployments need recovering and takes the first of these moments): next_success_at, the next successful
-- production deployment of the same service strictly after it; incidents_resolved_at, when the last of the
-- incidents that name it (kpis/sql/incident_links.sql) was resolved, null while any of them is open or when
-- none names it. Unfiltered: the deployment that recovers a failed one may belong to another team. The
-- next success is the dialect's (kpis.dialect.next_later: an ASOF join on DuckDB, a window elsewhere) over
-- the deployments that need recovering only (the others' recovery is never read) and, for a request bounded
-- in time, only those near its range and the successes from its start on (engine._recovery_parts): a window
-- over every deployment took a second on the benchmark's 1M.
SELECT n.id AS deployment_id, n.next_at AS next_success_at, r.incidents_resolved_at
FROM ({next_success}) n
LEFT JOIN (
    SELECT l.deployment_id,
           CASE WHEN count(*) = count(i.resolved_at) THEN max(i.resolved_at) END AS incidents_resolved_at
    FROM incident_links l
    JOIN incidents i ON i.incident_id = l.incident_id
    GROUP BY l.deployment_id
) r ON r.deployment_id = n.id
