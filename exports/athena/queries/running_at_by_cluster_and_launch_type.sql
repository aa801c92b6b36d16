-- Tasks per cluster and launch type that were running at time T (one parameter: T, ISO 8601).
-- The same tasks as GET /tasks?activeAt=T, counted.
--   aws athena start-query-execution --work-group primary \
--     --query-string "$(cat running_at_by_cluster_and_launch_type.sql)" \
--     --execution-parameters "'2026-11-28T09:00:00Z'"
WITH params AS (
  SELECT from_iso8601_timestamp(?) AS t
)
SELECT
  tasks.cluster_name,
  tasks.launch_type,
  count(*) AS running
FROM taskbeacon_tasks AS tasks
CROSS JOIN params
WHERE tasks.active_from <= params.t
  AND (tasks.active_until IS NULL OR tasks.active_until >= params.t)
  AND (tasks.expires_at IS NULL OR tasks.expires_at > to_unixtime(current_timestamp))
GROUP BY tasks.cluster_name, tasks.launch_type
ORDER BY tasks.cluster_name, tasks.launch_type
