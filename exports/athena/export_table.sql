-- taskbeacon: the raw rows of one DynamoDB export (full export, DYNAMODB_JSON) as an Athena table.
-- Run first, once per export. Replace the LOCATION with your export's data folder:
--   s3://<bucket>/<prefix>/AWSDynamoDB/<ExportId>/data/
-- Each line of data/*.json.gz is {"Item": {...}}, every attribute wrapped in its DynamoDB type
-- ({"S": "..."} or {"N": "..."}). Only the attributes the views read are declared; the SerDe
-- ignores the others (index entries, markers and counters share the table: the views keep only
-- task records, pk TASK#<identity> and sk TASK). Attribute names: lambdas/core/store/schema.py Attr.
CREATE EXTERNAL TABLE IF NOT EXISTS taskbeacon_export (
  Item struct<
    pk: struct<S: string>,
    sk: struct<S: string>,
    doc: struct<S: string>,
    hist: struct<S: string>,
    rev: struct<N: string>,
    expiresAt: struct<N: string>
  >
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://YOUR-BUCKET/YOUR-PREFIX/AWSDynamoDB/YOUR-EXPORT-ID/data/'
