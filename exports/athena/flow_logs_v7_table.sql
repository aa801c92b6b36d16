-- taskbeacon: VPC Flow Logs in a custom format with the version 7 ECS fields, delivered to S3 in
-- plain text. Optional: only for queries/flow_tasks_v7.sql. Create the flow log with exactly this
-- --log-format (the columns below follow it, '-' in a name becoming '_'):
--   ${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${flow-direction} ${ecs-cluster-arn} ${ecs-cluster-name} ${ecs-container-instance-arn} ${ecs-container-instance-id} ${ecs-container-id} ${ecs-second-container-id} ${ecs-service-name} ${ecs-task-definition-arn} ${ecs-task-arn} ${ecs-task-id}
-- The ecs-* fields (version 7) and flow-direction (version 5, which says whether srcaddr or
-- dstaddr is the interface's own address) are in AWS's table of available fields:
-- https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
-- AWS calls metadata fields that do not come from the packet header best-effort approximations
-- that may be missing or wrong, and the ecs-* fields are only there for flow logs created with
-- them: older records, and every default-format log, lack them. A field that does not apply is
-- '-'. Layout, header line and partitions as in flow_logs_v2_table.sql.
CREATE EXTERNAL TABLE IF NOT EXISTS vpc_flow_logs_v7 (
  version int,
  account_id string,
  interface_id string,
  srcaddr string,
  dstaddr string,
  srcport int,
  dstport int,
  protocol bigint,
  packets bigint,
  bytes bigint,
  `start` bigint,
  `end` bigint,
  action string,
  log_status string,
  flow_direction string,
  ecs_cluster_arn string,
  ecs_cluster_name string,
  ecs_container_instance_arn string,
  ecs_container_instance_id string,
  ecs_container_id string,
  ecs_second_container_id string,
  ecs_service_name string,
  ecs_task_definition_arn string,
  ecs_task_arn string,
  ecs_task_id string
)
PARTITIONED BY (day string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ' '
LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/AWSLogs/111122223333/vpcflowlogs/us-east-1/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2024/05/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR-BUCKET/YOUR-PREFIX/AWSLogs/111122223333/vpcflowlogs/us-east-1/${day}/'
)
