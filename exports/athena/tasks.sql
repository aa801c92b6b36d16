-- taskbeacon: one row per task record of the export, the task document's fields as columns.
-- Run after export_table.sql. `doc` is the task as GET /tasks/{id} shows it (camelCase JSON,
-- without `stale`, which the API computes on read); the full text stays in the column `doc`.
-- json_extract_scalar and json_extract read a varchar as JSON; never CAST(varchar AS JSON),
-- which makes a JSON *string* of it. Timestamps are ISO 8601 in UTC.
--
-- active_from / active_until are the task's active span as the API's time index computes it
-- (lambdas/core/logic/indexing.py active_span): from startedAt (else firstSeenAt, else
-- lastSeenAt); until, for a STOPPED task, stoppedAt (else stoppingAt, else lastSeenAt, else its
-- start); NULL while it is not stopped. "Running at T": active_from <= T AND
-- (active_until IS NULL OR active_until >= T), which is what GET /tasks?activeAt=T answers.
--
-- expires_at is the TTL (epoch seconds, NULL while the task runs). DynamoDB deletes expired
-- items some time after they expire, so an export may still hold some that the API no longer
-- shows: filter with expires_at IS NULL OR expires_at > to_unixtime(current_timestamp).
CREATE OR REPLACE VIEW taskbeacon_tasks AS
SELECT
  substr(item.pk.s, 6) AS identity,
  json_extract_scalar(item.doc.s, '$.taskArn') AS task_arn,
  json_extract_scalar(item.doc.s, '$.taskId') AS task_id,
  json_extract_scalar(item.doc.s, '$.accountId') AS account_id,
  json_extract_scalar(item.doc.s, '$.region') AS region,
  json_extract_scalar(item.doc.s, '$.clusterArn') AS cluster_arn,
  json_extract_scalar(item.doc.s, '$.clusterName') AS cluster_name,
  json_extract_scalar(item.doc.s, '$.family') AS family,
  json_extract_scalar(item.doc.s, '$.revision') AS revision,
  json_extract_scalar(item.doc.s, '$.serviceName') AS service_name,
  json_extract_scalar(item.doc.s, '$.launchType') AS launch_type,
  json_extract_scalar(item.doc.s, '$.availabilityZone') AS availability_zone,
  json_extract_scalar(item.doc.s, '$.lastStatus') AS last_status,
  json_extract_scalar(item.doc.s, '$.desiredStatus') AS desired_status,
  json_extract_scalar(item.doc.s, '$.stoppedReason') AS stopped_reason,
  json_extract_scalar(item.doc.s, '$.stopCode') AS stop_code,
  from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.startedAt')) AS started_at,
  from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.stoppedAt')) AS stopped_at,
  from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.firstSeenAt')) AS first_seen_at,
  from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.lastSeenAt')) AS last_seen_at,
  coalesce(
    from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.startedAt')),
    from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.firstSeenAt')),
    from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.lastSeenAt')),
    from_iso8601_timestamp('1970-01-01T00:00:00Z')
  ) AS active_from,
  CASE
    WHEN upper(json_extract_scalar(item.doc.s, '$.lastStatus')) = 'STOPPED' THEN coalesce(
      from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.stoppedAt')),
      from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.stoppingAt')),
      from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.lastSeenAt')),
      from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.startedAt')),
      from_iso8601_timestamp(json_extract_scalar(item.doc.s, '$.firstSeenAt')),
      from_iso8601_timestamp('1970-01-01T00:00:00Z')
    )
  END AS active_until,
  -- Each element: one container ({name, image, imageDigest, dockerId, labels, networks[...]}).
  CAST(json_extract(item.doc.s, '$.containers') AS ARRAY(JSON)) AS containers,
  CAST(item.expiresat.n AS BIGINT) AS expires_at,
  CAST(item.rev.n AS BIGINT) AS record_revision,
  item.doc.s AS doc,
  item.hist.s AS hist
FROM taskbeacon_export
WHERE item.sk.s = 'TASK' AND starts_with(item.pk.s, 'TASK#')
