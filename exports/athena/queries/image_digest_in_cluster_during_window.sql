-- Which tasks ran image digest X in cluster C at any moment of a window [from, to]?
-- Four parameters: digest ('sha256:...'), cluster (short name or ARN), from, to (ISO 8601).
-- The same tasks as GET /search?imageDigest=X intersected with
-- GET /tasks?cluster=C&activeFrom=from&activeTo=to, but over any window (the API allows 7 days).
--   --execution-parameters "'sha256:...'" "'prod'" "'2026-11-27T00:00:00Z'" "'2026-11-28T00:00:00Z'"
WITH params AS (
  SELECT
    ? AS digest,
    ? AS cluster,
    from_iso8601_timestamp(?) AS window_from,
    from_iso8601_timestamp(?) AS window_to
)
SELECT DISTINCT
  tasks.task_arn,
  tasks.cluster_name,
  tasks.service_name,
  tasks.last_status,
  json_extract_scalar(c.container, '$.name') AS container_name,
  json_extract_scalar(c.container, '$.image') AS image,
  tasks.active_from,
  tasks.active_until
FROM taskbeacon_tasks AS tasks
CROSS JOIN params
CROSS JOIN UNNEST(tasks.containers) AS c (container)
WHERE json_extract_scalar(c.container, '$.imageDigest') = params.digest
  AND (tasks.cluster_name = params.cluster OR tasks.cluster_arn = params.cluster)
  AND tasks.active_from <= params.window_to
  AND (tasks.active_until IS NULL OR tasks.active_until >= params.window_from)
  AND (tasks.expires_at IS NULL OR tasks.expires_at > to_unixtime(current_timestamp))
ORDER BY task_arn, container_name
