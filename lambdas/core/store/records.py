"""Conversion between domain objects and DynamoDB items. The only code that knows attribute maps."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime
from typing import Any

from core.model import IndexItem, SeenState, StoredTask, Task, TaskRecord, TaskState
from core.model.time import timestamp
from core.store import keys
from core.store.schema import FORMAT_VERSION, PARTITION_KEY, SORT_KEY, Attr

Item = dict[str, Any]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def task_document(task: Task) -> dict[str, Any]:
    """The task as the API shows it (camelCase), minus ``stale`` which is computed on read, and minus
    ``drift`` while never judged (the API shows it as null): a launch's stored record stays as it was."""
    document = task.model_dump(by_alias=True, mode="json", exclude={"stale"})
    if document.get("drift") is None:
        document.pop("drift", None)
    return document


def record_item(
    identity: str, record: TaskRecord, history: list[dict[str, Any]], expires_at: int | None
) -> Item:
    """The record: its document and history in one zlib-compressed body (a 4-container task's 6.5 KB
    of JSON is ~1.3 KB, so each write of it costs 2 write units instead of 7: docs/decisions.md
    "Stored format"), beside the few attributes conditions and TTL read."""
    body = dumps({"doc": task_document(record.task), "hist": history}).encode()
    item: Item = {
        **keys.record_key(identity),
        Attr.FORMAT: {"N": str(FORMAT_VERSION)},
        Attr.BODY: {"B": zlib.compress(body, 9)},
        Attr.REVISION: {"N": str(record.revision)},
    }
    if record.snapshot_key is not None:
        item[Attr.SNAPSHOT_KEY] = {"S": record.snapshot_key}
    if record.event_version is not None:
        item[Attr.EVENT_VERSION] = {"N": str(record.event_version)}
    if expires_at is not None:
        item[Attr.EXPIRES] = {"N": str(expires_at)}
    if record.lease_until is not None:
        item[Attr.LEASE] = {"N": str(record.lease_until)}
    if record.reindex_mark is not None:
        item[Attr.REINDEX] = {"N": str(record.reindex_mark)}
    return item


def record_body(item: Item) -> dict[str, Any]:
    """The record's document and history. Binary values come as bytes from boto3 and as base64 text
    in a Lambda stream event."""
    version = item.get(Attr.FORMAT, {}).get("N")
    if version != str(FORMAT_VERSION):
        raise ValueError(f"task record format {version!r}; this code reads {FORMAT_VERSION}")
    raw = item[Attr.BODY]["B"]
    packed = base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)
    try:
        text = zlib.decompress(packed)
    except zlib.error as error:  # not a ValueError: a damaged body must read as any undecodable item
        raise ValueError(f"task record body: {error}") from error
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("task record body is not an object")
    return body


def record_from_item(item: Item) -> TaskRecord:
    body = record_body(item)
    lease = item.get(Attr.LEASE, {}).get("N")
    mark = item.get(Attr.REINDEX, {}).get("N")
    return TaskRecord(
        task=Task.model_validate(body["doc"]),
        snapshot_key=item.get(Attr.SNAPSHOT_KEY, {}).get("S"),
        event_version=int(item[Attr.EVENT_VERSION]["N"]) if Attr.EVENT_VERSION in item else None,
        history=tuple(body.get("hist") or ()),
        revision=int(item.get(Attr.REVISION, {}).get("N", "0")),
        lease_until=int(lease) if lease else None,
        reindex_mark=int(mark) if mark else None,
    )


def seen_item(identity: str, seen: SeenState, expires_at: int | None = None) -> Item:
    """The keepalive item. ``expires_at``: every write of it moves its TTL on (no removal of the
    record reaches the indexer, so nothing else deletes it once keepalives stop)."""
    item: Item = {**keys.seen_key(identity)}
    if seen.snapshot_key is not None:
        item[Attr.SNAPSHOT_KEY] = {"S": seen.snapshot_key}
    if seen.content_hash is not None:
        item[Attr.CONTENT_HASH] = {"S": seen.content_hash}
    if seen.seen_at is not None:
        item[Attr.SEEN_AT] = {"S": timestamp(seen.seen_at)}
    if expires_at is not None:
        item[Attr.EXPIRES] = {"N": str(expires_at)}
    return item


def seen_from_item(item: Item) -> SeenState:
    seen_at = item.get(Attr.SEEN_AT, {}).get("S")
    return SeenState(
        snapshot_key=item.get(Attr.SNAPSHOT_KEY, {}).get("S"),
        content_hash=item.get(Attr.CONTENT_HASH, {}).get("S"),
        seen_at=parse_timestamp(seen_at) if seen_at else None,
    )


def stored_task(items: list[Item]) -> StoredTask | None:
    """A task from the items of its partition (record, keepalive item); None without a record."""
    identity, record, seen, expires = _task_partition(items)
    if record is None:
        return None
    return StoredTask(identity, record, seen_at=seen.seen_at if seen else None, expires_at=expires)


def task_state(items: list[Item]) -> TaskState:
    """The same items as the write path merges against: the record and keepalive item, either absent."""
    _, record, seen, _ = _task_partition(items)
    return TaskState(record=record, seen=seen)


def _task_partition(items: list[Item]) -> tuple[str, TaskRecord | None, SeenState | None, int | None]:
    """The one decoder of a task's partition: its identity, record, keepalive item and the record's TTL."""
    record = seen = None
    expires: int | None = None
    identity = ""
    for item in items:
        sort = item[SORT_KEY]["S"]
        identity = keys.identity_of_partition(item[PARTITION_KEY]["S"])
        if sort == keys.RECORD_SK:
            record = record_from_item(item)
            expires = int(item[Attr.EXPIRES]["N"]) if Attr.EXPIRES in item else None
        elif sort == keys.SEEN_SK:
            seen = seen_from_item(item)
    return identity, record, seen, expires


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def item_size(item: Item) -> int:
    """DynamoDB's size of ``item`` (attribute names plus UTF-8 values), for the S/N/BOOL items we write."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "B" in value:
            size += len(value["B"])
        elif "N" in value:
            size += len(value["N"]) // 2 + 1  # DynamoDB: about one byte per two digits, plus one
        else:
            size += len(json.dumps(value))  # BOOL, NULL: an upper bound
    return size


def index_item(entry: IndexItem) -> Item:
    item: Item = {
        PARTITION_KEY: {"S": entry.partition},
        SORT_KEY: {"S": entry.sort},
        Attr.FORMAT: {"N": str(FORMAT_VERSION)},
        Attr.REF: {"S": entry.identity},
        Attr.PROJECTION: {"S": dumps(entry.projection)},
    }
    if entry.held_from is not None:
        item[Attr.HELD_FROM] = {"S": entry.held_from}
    if entry.held_until is not None:
        item[Attr.HELD_UNTIL] = {"S": entry.held_until}
    if entry.expires_at is not None:
        item[Attr.EXPIRES] = {"N": str(entry.expires_at)}
    return item


def index_entry_from_item(item: Item) -> IndexItem:
    expires = item.get(Attr.EXPIRES, {}).get("N")
    return IndexItem(
        partition=item[PARTITION_KEY]["S"],
        sort=item[SORT_KEY]["S"],
        identity=item[Attr.REF]["S"],
        projection=json.loads(item.get(Attr.PROJECTION, {}).get("S", "{}")),
        held_from=item.get(Attr.HELD_FROM, {}).get("S"),
        held_until=item.get(Attr.HELD_UNTIL, {}).get("S"),
        expires_at=int(expires) if expires else None,
    )


def key_of_reference(reference: str) -> dict[str, Any]:
    partition, sort = reference.split("\t", 1)
    return {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort}}
