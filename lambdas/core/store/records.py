"""Conversion between domain objects and DynamoDB items. The only code that knows attribute maps."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.model import IndexedState, IndexItem, SeenState, StoredTask, Task, TaskRecord
from core.store import keys
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

Item = dict[str, Any]
_INDEX_PREFIX = "IX#"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def task_document(task: Task) -> dict[str, Any]:
    """The task as the API shows it (camelCase), minus ``stale`` which is computed on read."""
    return task.model_dump(by_alias=True, mode="json", exclude={"stale"})


def record_item(
    identity: str, record: TaskRecord, history: list[dict[str, Any]], expires_at: int | None
) -> Item:
    item: Item = {
        **keys.record_key(identity),
        Attr.DOC: {"S": dumps(task_document(record.task))},
        Attr.REVISION: {"N": str(record.revision)},
        Attr.HISTORY: {"S": dumps(history)},
    }
    if record.snapshot_key is not None:
        item[Attr.SNAPSHOT_KEY] = {"S": record.snapshot_key}
    if record.event_version is not None:
        item[Attr.EVENT_VERSION] = {"N": str(record.event_version)}
    if expires_at is not None:
        item[Attr.EXPIRES] = {"N": str(expires_at)}
    return item


def record_from_item(item: Item) -> TaskRecord:
    return TaskRecord(
        task=Task.model_validate_json(item[Attr.DOC]["S"]),
        snapshot_key=item.get(Attr.SNAPSHOT_KEY, {}).get("S"),
        event_version=int(item[Attr.EVENT_VERSION]["N"]) if Attr.EVENT_VERSION in item else None,
        history=tuple(json.loads(item.get(Attr.HISTORY, {}).get("S", "[]"))),
        revision=int(item.get(Attr.REVISION, {}).get("N", "0")),
    )


def seen_item(identity: str, seen: SeenState) -> Item:
    item: Item = {**keys.seen_key(identity)}
    if seen.snapshot_key is not None:
        item[Attr.SNAPSHOT_KEY] = {"S": seen.snapshot_key}
    if seen.content_hash is not None:
        item[Attr.CONTENT_HASH] = {"S": seen.content_hash}
    if seen.seen_at is not None:
        item[Attr.SEEN_AT] = {"S": keys.timestamp(seen.seen_at)}
    return item


def seen_from_item(item: Item) -> SeenState:
    seen_at = item.get(Attr.SEEN_AT, {}).get("S")
    return SeenState(
        snapshot_key=item.get(Attr.SNAPSHOT_KEY, {}).get("S"),
        content_hash=item.get(Attr.CONTENT_HASH, {}).get("S"),
        seen_at=parse_timestamp(seen_at) if seen_at else None,
    )


def marker_item(identity: str, state: IndexedState) -> Item:
    """The marker, compact: it is rewritten on every change of the task, and billed by size.

    Entries of one task share their sort key and mostly their digest, so both are stored once:
    ``{"s": [sort, ...], "d": [digest, ...], "e": [[partition, sort index, digest index], ...]}``.
    """
    sorts: dict[str, int] = {}
    digests: dict[str, int] = {}
    entries = []
    for ref, digest in sorted(state.entries.items()):
        partition, sort = ref.split("\t", 1)
        entries.append(
            [
                partition.removeprefix(_INDEX_PREFIX),
                sorts.setdefault(sort, len(sorts)),
                digests.setdefault(digest, len(digests)),
            ]
        )
    compact = {"s": list(sorts), "d": list(digests), "e": entries}
    return {
        **keys.marker_key(identity),
        Attr.REVISION: {"N": str(state.revision)},
        Attr.ENTRIES: {"S": dumps(compact)},
        Attr.SUMS: {"S": dumps(sorted(state.sums))},
    }


def marker_from_item(item: Item) -> IndexedState:
    compact = json.loads(item.get(Attr.ENTRIES, {}).get("S", "{}"))
    sorts, digests = compact.get("s", []), compact.get("d", [])
    entries = {
        f"{_INDEX_PREFIX}{partition}\t{sorts[sort]}": digests[digest]
        for partition, sort, digest in compact.get("e", [])
    }
    return IndexedState(
        revision=int(item.get(Attr.REVISION, {}).get("N", "0")),
        entries=entries,
        sums=frozenset(tuple(pair) for pair in json.loads(item.get(Attr.SUMS, {}).get("S", "[]"))),
    )


def stored_task(items: list[Item]) -> StoredTask | None:
    """A task from the items of its partition (record, keepalive item); None without a record."""
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
    if record is None:
        return None
    return StoredTask(identity, record, seen_at=seen.seen_at if seen else None, expires_at=expires)


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def item_size(item: Item) -> int:
    """DynamoDB's size of ``item`` (attribute names plus UTF-8 values), for the S/N/BOOL items we write."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += len(value["N"]) // 2 + 1  # DynamoDB: about one byte per two digits, plus one
        else:
            size += len(json.dumps(value))  # BOOL, NULL: an upper bound
    return size


def index_item(entry: IndexItem) -> Item:
    item: Item = {
        PARTITION_KEY: {"S": entry.partition},
        SORT_KEY: {"S": entry.sort},
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


def key_of_reference(reference: str) -> dict[str, Any]:
    partition, sort = reference.split("\t", 1)
    return {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort}}
