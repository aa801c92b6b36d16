-- taskbeacon: one row per history entry of each task (the record's bounded history, oldest first),
-- as GET /tasks/{id}/history lists them. Run after tasks.sql.
-- An entry is {at, source, reporter, changes}; changes maps a field to {from, to}
-- (lastStatus, images, ips, ...). status_from / status_to are set when the status changed.
-- The history is bounded (HISTORY_LIMIT entries per task, newest kept), like the API's.
CREATE OR REPLACE VIEW taskbeacon_history AS
SELECT
  t.identity,
  t.task_arn,
  t.cluster_name,
  t.service_name,
  from_iso8601_timestamp(json_extract_scalar(h.entry, '$.at')) AS at,
  json_extract_scalar(h.entry, '$.source') AS source,
  json_extract_scalar(h.entry, '$.reporter') AS reporter,
  json_extract_scalar(h.entry, '$.changes.lastStatus.from') AS status_from,
  json_extract_scalar(h.entry, '$.changes.lastStatus.to') AS status_to,
  json_format(json_extract(h.entry, '$.changes')) AS changes,
  t.expires_at
FROM taskbeacon_tasks AS t
CROSS JOIN UNNEST(CAST(json_parse(coalesce(t.hist, '[]')) AS ARRAY(JSON))) AS h (entry)
