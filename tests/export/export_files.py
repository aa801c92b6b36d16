"""A table's items written as a DynamoDB full export to S3 writes them (DYNAMODB_JSON), into a folder.

Layout (docs/export.md "What an export is"), under ``<prefix>/AWSDynamoDB/<ExportId>/``:
``manifest-summary.json`` (+ ``.checksum``), ``manifest-files.json`` (+ ``.checksum``, one JSON line
per data file: ``itemCount``, ``md5Checksum``, ``etag``, ``dataFileS3Key``), an empty ``_started``,
and ``data/<token>.json.gz``: gzip, one ``{"Item": {...}}`` per line, attributes in DynamoDB JSON.
The export writes at least one file per partition, some of them empty, so this one does too.
A binary value (B, the task record's compressed ``body``) is base64 text in the export's JSON, and a
binary set (BS) a list of them, as DynamoDB writes them.

``inflated`` runs the documented step between the export and Athena (``taskbeacon export inflate``,
docs/export.md): the committed SQL reads the inflated copy, never the raw export.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskbeacon.export.inflate import inflate_export

TABLE_ARN = "arn:aws:dynamodb:us-east-1:111122223333:table/taskbeacon-tasks"
BUCKET = "analytics-bucket"
PREFIX = "taskbeacon"


@dataclass(frozen=True)
class Export:
    root: Path  # stands for s3://BUCKET/
    folder: Path  # <root>/<prefix>/AWSDynamoDB/<ExportId>
    export_id: str
    item_count: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def data_files(self) -> list[Path]:
        return sorted(self.data.glob("*.json.gz"))


def _token(seed: str) -> str:
    """A file name like the export's (26 lowercase letters and digits)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[byte % 32] for byte in digest[:26])


def export_value(value: dict[str, Any]) -> dict[str, Any]:
    """One attribute value in the export's DynamoDB JSON: binary as base64 text, maps and lists inside out."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(one)).decode() for one in inner]}
    if kind == "M":
        return {"M": {name: export_value(one) for name, one in inner.items()}}
    if kind == "L":
        return {"L": [export_value(one) for one in inner]}
    return value


def export_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as boto3's client returns it (binary as bytes), in the export's DynamoDB JSON."""
    return {name: export_value(value) for name, value in item.items()}


def write_export(items: list[dict[str, Any]], root: Path, *, files: int = 4, export_time: datetime) -> Export:
    millis = int(export_time.timestamp() * 1000)
    export_id = f"{millis:013d}-{_token(str(millis))[:8]}"
    key_prefix = f"{PREFIX}/AWSDynamoDB/{export_id}"
    folder = root / key_prefix
    (folder / "data").mkdir(parents=True)
    (folder / "_started").write_bytes(b"")
    # Items land in a file by their partition key's hash, as each export file holds one partition's keyspace.
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(files + 1)]  # the last one stays empty
    for item in items:
        pk = item["pk"]["S"].encode()
        buckets[int.from_bytes(hashlib.md5(pk).digest()[:4], "big") % files].append(item)  # noqa: S324
    manifest_lines = []
    billed = 0
    for number, bucket in enumerate(buckets):
        body = "".join(
            json.dumps({"Item": export_item(item)}, separators=(",", ":")) + "\n" for item in bucket
        )
        billed += len(body.encode())
        compressed = gzip.compress(body.encode(), mtime=0)
        name = f"{_token(f'{export_id}/{number}')}.json.gz"
        (folder / "data" / name).write_bytes(compressed)
        md5 = hashlib.md5(compressed)  # noqa: S324 - the manifest's checksum is MD5
        manifest_lines.append(
            json.dumps(
                {
                    "itemCount": len(bucket),
                    "md5Checksum": base64.b64encode(md5.digest()).decode(),
                    "etag": md5.hexdigest(),
                    "dataFileS3Key": f"{key_prefix}/data/{name}",
                }
            )
        )
    manifest_files = "\n".join(manifest_lines) + "\n"
    (folder / "manifest-files.json").write_text(manifest_files)
    (folder / "manifest-files.checksum").write_text(hashlib.md5(manifest_files.encode()).hexdigest())  # noqa: S324
    stamp = export_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    summary = {
        "version": "2020-06-30",
        "exportArn": f"{TABLE_ARN}/export/{export_id}",
        "startTime": stamp,
        "endTime": stamp,
        "tableArn": TABLE_ARN,
        "tableId": "12345678-abcd-1234-abcd-123456789012",
        "exportTime": stamp,
        "s3Bucket": BUCKET,
        "s3Prefix": PREFIX,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{key_prefix}/manifest-files.json",
        "billedSizeBytes": billed,
        "itemCount": len(items),
        "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT",
    }
    text = json.dumps(summary, indent=2)
    (folder / "manifest-summary.json").write_text(text)
    (folder / "manifest-summary.checksum").write_text(hashlib.md5(text.encode()).hexdigest())  # noqa: S324
    return Export(root=root, folder=folder, export_id=export_id, item_count=len(items))


def inflated(export: Export, target: Path) -> Export:
    """The export after ``taskbeacon export inflate``, written to ``target`` (the folder Athena reads
    once ``aws s3 sync`` has put it back)."""
    inflate_export(export.folder, target)
    return Export(root=target.parent, folder=target, export_id=export.export_id, item_count=export.item_count)
