-- Deployments named by an incident. With a link window, an incident that names
-- none is linked to the latest successful production deployment of the same
-- service that went out within the window before it started.
SELECT deployment_id FROM incidents WHERE deployment_id IS NOT NULL
{link_window}
