-- Deployments named by an incident, with the incident. With a link window, an
-- incident that names none is linked to the latest successful production
-- deployment of the same service that went out within the window before it
-- started. The KPIs (a deployment named here failed) and the drill-down (which
-- incidents) both read this relation.
SELECT deployment_id, incident_id FROM incidents WHERE deployment_id IS NOT NULL
{link_window}
