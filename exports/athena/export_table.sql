-- taskbeacon: the raw rows of one DynamoDB export (full export, DYNAMODB_JSON) as an Athena table.
-- Run first, once per export. Replace the LOCATION with the data folder of the *inflated* export
-- (docs/export.md section 2: `taskbeacon export inflate`, then `aws s3 sync` to a prefix of its own):
--   s3://<bucket>/<inflated prefix>/<ExportId>/data/
-- Each line of data/*.json.gz is {"Item": {...}}, every attribute wrapped in its DynamoDB type
-- ({"S": "..."} or {"N": "..."}). doc and hist are what inflating adds: the raw export holds them
-- only zlib-compressed in body (B), which Athena cannot read. Only the attributes the views read
-- are declared; the SerDe ignores the others (keepalives and index entries share the table:
-- the views keep only task records, pk TASK#<identity> and sk TASK). Attribute names:
-- lambdas/core/store/schema.py Attr.
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
