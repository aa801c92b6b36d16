-- The task at each end of every flow log record (default format, version 2) that started in a
-- window. Two parameters: from, to (ISO 8601). Needs flow_logs_v2_table.sql and ip_intervals.sql.
--   --execution-parameters "'2026-11-28T09:00:00Z'" "'2026-11-28T10:00:00Z'"
-- An end is named by the task that held its address (taskbeacon_ip_intervals) at some moment of
-- the record's [start, end] (epoch seconds, both included): what GET /search?ip=<address>&at=T
-- answers for a T in it. An address no task held then (the internet, a load balancer, an
-- instance) gives NULLs. If the address changed hands within the record's window, the record
-- comes once per holder, each with its held_from / held_to.
WITH params AS (
  SELECT
    from_iso8601_timestamp(?) AS window_from,
    from_iso8601_timestamp(?) AS window_to
)
SELECT
  from_unixtime(flows."start") AS flow_start,
  from_unixtime(flows."end") AS flow_end,
  flows.account_id,
  flows.interface_id,
  flows.srcaddr,
  flows.srcport,
  flows.dstaddr,
  flows.dstport,
  flows.protocol,
  flows.packets,
  flows.bytes,
  flows.action,
  flows.log_status,
  src.task_arn AS src_task_arn,
  src.account_id AS src_account_id,
  src.cluster_name AS src_cluster_name,
  src.service_name AS src_service_name,
  src.held_from AS src_held_from,
  src.held_to AS src_held_to,
  src.confirmed AS src_confirmed,
  dst.task_arn AS dst_task_arn,
  dst.account_id AS dst_account_id,
  dst.cluster_name AS dst_cluster_name,
  dst.service_name AS dst_service_name,
  dst.held_from AS dst_held_from,
  dst.held_to AS dst_held_to,
  dst.confirmed AS dst_confirmed
FROM vpc_flow_logs_v2 AS flows
CROSS JOIN params
LEFT JOIN taskbeacon_ip_intervals AS src
  ON src.ip = flows.srcaddr
  AND src.held_from <= from_unixtime(flows."end")
  AND (src.held_to IS NULL OR src.held_to >= from_unixtime(flows."start"))
  AND (src.expires_at IS NULL OR src.expires_at > to_unixtime(current_timestamp))
LEFT JOIN taskbeacon_ip_intervals AS dst
  ON dst.ip = flows.dstaddr
  AND dst.held_from <= from_unixtime(flows."end")
  AND (dst.held_to IS NULL OR dst.held_to >= from_unixtime(flows."start"))
  AND (dst.expires_at IS NULL OR dst.expires_at > to_unixtime(current_timestamp))
-- A record can land in the next day's folder (delivery lags): read a day more on each side.
WHERE flows.day BETWEEN date_format(params.window_from - INTERVAL '1' DAY, '%Y/%m/%d')
  AND date_format(params.window_to + INTERVAL '1' DAY, '%Y/%m/%d')
  AND flows."start" BETWEEN to_unixtime(params.window_from) AND to_unixtime(params.window_to)
ORDER BY flow_start, flows.interface_id, flows.srcaddr, flows.srcport, flows.dstaddr, flows.dstport,
  src_task_arn, dst_task_arn
