-- Every status change recorded in a window [from, to], oldest first, with who reported it.
-- Two parameters: from, to (ISO 8601). What GET /tasks/{id}/history shows, across all tasks.
WITH params AS (
  SELECT
    from_iso8601_timestamp(?) AS window_from,
    from_iso8601_timestamp(?) AS window_to
)
SELECT
  history.task_arn,
  history.cluster_name,
  history.at,
  history.status_from,
  history.status_to,
  history.source,
  history.reporter
FROM taskbeacon_history AS history
CROSS JOIN params
WHERE history.status_to IS NOT NULL
  AND history.at BETWEEN params.window_from AND params.window_to
  AND (history.expires_at IS NULL OR history.expires_at > to_unixtime(current_timestamp))
ORDER BY history.at, history.task_arn
