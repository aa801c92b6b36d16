-- The task at each end of every flow log record with the version 7 ECS fields that started in a
-- window, beside what the record itself says. Two parameters: from, to (ISO 8601). Needs
-- flow_logs_v7_table.sql and ip_intervals.sql.
--   --execution-parameters "'2026-11-28T09:00:00Z'" "'2026-11-28T10:00:00Z'"
-- src_* / dst_* name the tasks exactly as queries/flow_tasks_v2.sql does (the task that held the
-- address at some moment of [start, end], as GET /search?ip=&at= answers). ecs_task_arn is the
-- record's own field, about the task of the record's network interface: the source for egress
-- traffic, the destination for ingress (flow-direction). AWS calls it best-effort
-- (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html), so it is checked,
-- once per record: ecs_task_arn_check is 'agree' when that task held the address of the
-- interface's end at some moment of [start, end] (by taskbeacon_ip_intervals), 'disagree' when
-- only other tasks did, 'not-held' when no task did, NULL when the record has no ecs-task-arn.
-- Without a flow direction, either end may agree.
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
  nullif(flows.flow_direction, '-') AS flow_direction,
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
  dst.confirmed AS dst_confirmed,
  nullif(flows.ecs_task_arn, '-') AS ecs_task_arn,
  nullif(flows.ecs_cluster_name, '-') AS ecs_cluster_name,
  nullif(flows.ecs_service_name, '-') AS ecs_service_name,
  nullif(flows.ecs_container_id, '-') AS ecs_container_id,
  CASE
    WHEN nullif(flows.ecs_task_arn, '-') IS NULL THEN NULL
    WHEN flows.flow_direction = 'egress' THEN CASE
      WHEN stated_src.task_arn IS NOT NULL THEN 'agree'
      WHEN src.task_arn IS NULL THEN 'not-held'
      ELSE 'disagree'
    END
    WHEN flows.flow_direction = 'ingress' THEN CASE
      WHEN stated_dst.task_arn IS NOT NULL THEN 'agree'
      WHEN dst.task_arn IS NULL THEN 'not-held'
      ELSE 'disagree'
    END
    WHEN stated_src.task_arn IS NOT NULL OR stated_dst.task_arn IS NOT NULL THEN 'agree'
    WHEN src.task_arn IS NULL AND dst.task_arn IS NULL THEN 'not-held'
    ELSE 'disagree'
  END AS ecs_task_arn_check
FROM vpc_flow_logs_v7 AS flows
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
-- Whether the record's own task held that end's address then (at most one row each: a task holds
-- an address once), so the check is the same on every row of a record.
LEFT JOIN taskbeacon_ip_intervals AS stated_src
  ON stated_src.task_arn = flows.ecs_task_arn
  AND stated_src.ip = flows.srcaddr
  AND stated_src.held_from <= from_unixtime(flows."end")
  AND (stated_src.held_to IS NULL OR stated_src.held_to >= from_unixtime(flows."start"))
  AND (stated_src.expires_at IS NULL OR stated_src.expires_at > to_unixtime(current_timestamp))
LEFT JOIN taskbeacon_ip_intervals AS stated_dst
  ON stated_dst.task_arn = flows.ecs_task_arn
  AND stated_dst.ip = flows.dstaddr
  AND stated_dst.held_from <= from_unixtime(flows."end")
  AND (stated_dst.held_to IS NULL OR stated_dst.held_to >= from_unixtime(flows."start"))
  AND (stated_dst.expires_at IS NULL OR stated_dst.expires_at > to_unixtime(current_timestamp))
-- A record can land in the next day's folder (delivery lags): read a day more on each side.
WHERE flows.day BETWEEN date_format(params.window_from - INTERVAL '1' DAY, '%Y/%m/%d')
  AND date_format(params.window_to + INTERVAL '1' DAY, '%Y/%m/%d')
  AND flows."start" BETWEEN to_unixtime(params.window_from) AND to_unixtime(params.window_to)
ORDER BY flow_start, flows.interface_id, flows.srcaddr, flows.srcport, flows.dstaddr, flows.dstport,
  src_task_arn, dst_task_arn
