-- taskbeacon: VPC Flow Logs in the default format (version 2), as delivered to S3 in plain text.
-- Optional: only for the flow queries (queries/flow_tasks_v2.sql). Replace the bucket, prefix,
-- account and region in LOCATION and storage.location.template: a flow log writes to
--   s3://<bucket>/<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<MM>/<dd>/*.log.gz
-- (one table per account and region; add partitions for more). Fields are separated by a space,
-- each file starts with a header line, and a field that does not apply is '-' (a number column
-- reads it as NULL, a string column as '-'). The default format, in this order (no --log-format):
--   ${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}
-- Fields: https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html
-- Partition projection on the day folder, so a query reads only the days it names.
CREATE EXTERNAL TABLE IF NOT EXISTS vpc_flow_logs_v2 (
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
  log_status string
)
PARTITIONED BY (day string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ' '
LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/AWSLogs/111122223333/vpcflowlogs/us-east-1/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '2015/01/01,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://YOUR-BUCKET/YOUR-PREFIX/AWSLogs/111122223333/vpcflowlogs/us-east-1/${day}/'
)
