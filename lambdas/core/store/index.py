"""The search index's home in the table: where entries live, and how they are read and written.

Logic says what a task is found by (core/logic/indexing.py: kinds, values, projections, and the time
each entry is ordered by, as ``WantedEntry``); this module says where that lives:

| item        | pk                            | sk                                        |
|-------------|-------------------------------|-------------------------------------------|
| index entry | ``IX#<kind>#<value>#<shard>`` | ``<ordered_at>#<identity>``               |
| day entry   | ``IX#activeDay:<day>#all#<shard>`` | ``<start>#<identity>``              |

Kinds many tasks write are spread over shards (a task's entries of one kind always land in the same
shard), so no partition key runs hot; reads merge the shards (docs/decisions.md "No hot partition").

``IndexStore`` reads entries (one shard a page at a time, or whole partitions side by side for
``/summary``) and writes them: the indexer's puts and deletes, in batches (BatchWriteItem),
idempotently, so a replay or a retry after a partial failure converges (core/logic/indexer.py).
Never a Scan.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from core.model import IndexItem, WantedEntry
from core.model.time import timestamp
from core.store import dynamo
from core.store.records import Item, index_entry_from_item, index_item, key_of_reference
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

# Index kinds whose partitions many tasks write (every start and stop moves an entry in them) are
# spread over this many partition keys; kinds that name one task's own values (its IPs, ENIs,
# Docker ids, task id) are not. Reads merge the shards. Sized in docs/decisions.md "No hot partition".
INDEX_SHARDS: Final = 8
UNSHARDED_KINDS: Final = frozenset({"ip", "eni", "dockerId", "taskId"})
# The kind of a stopped task's time entries, its value a UTC day (YYYY-MM-DD) it was active: one
# partition per day, spelled ``activeDay:<day>``; only stops write them (<= 1,000 a second).
ACTIVE_DAY: Final = "activeDay"
ACTIVE_DAY_SHARDS: Final = 4
_ACTIVE_DAY_PREFIX: Final = f"{ACTIVE_DAY}:"
_WHOLE_DAY: Final = "all"  # a day partition's value part
# Every sort key starts with a timestamp (four digits of a year); DynamoDB's limit, in bytes.
_MAX_SORT_KEY: Final = 1024
_BATCH_WRITE = 25  # BatchWriteItem's limit per request


@dataclass(frozen=True)
class IndexHit:
    identity: str
    sort: str
    projection: dict[str, str]
    held_from: str | None = None
    held_until: str | None = None
    expires_at: int | None = None
    partition: str = ""


@dataclass(frozen=True)
class ShardPage:
    hits: list[IndexHit]
    exhausted: bool  # nothing more in this shard after these hits
    items_read: int


class IndexStore(dynamo.TableAccess):
    """Reads and writes index entries."""

    def __init__(self, table_name: str, *, client: Any | None = None, sleep: Any = time.sleep):
        super().__init__(table_name, client, sleep=sleep)

    def query_shard(
        self,
        partition: str,
        *,
        after: str | None,
        limit: int,
        low: str | None = None,
        high: str | None = None,
    ) -> ShardPage:
        """Up to ``limit`` entries of one index partition, newest first, strictly older than ``after``."""
        names = {"#pk": PARTITION_KEY}
        values: dict[str, Any] = {":pk": {"S": partition}}
        condition = "#pk = :pk"
        if low is not None or high is not None:
            names["#sk"] = SORT_KEY
            condition += " AND #sk BETWEEN :low AND :high"
            values[":low"] = {"S": low or "0"}  # every sort key starts with a year
            values[":high"] = {"S": (high or "") + "~"}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": after}}
        with dynamo.translated_errors():
            response = self.client.query(**request)
        hits = [_hit(item) for item in response.get("Items", [])]
        return ShardPage(hits, "LastEvaluatedKey" not in response, len(hits))

    def whole_partitions(self, partitions: list[str]) -> list[IndexHit]:
        """Every entry of several partitions, read side by side (one thread each): ``/summary``
        reads the live partition's shards this way, so its time is one shard's, not eight."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, len(partitions))) as pool:
            return [hit for hits in pool.map(self._whole_partition, partitions) for hit in hits]

    def _whole_partition(self, partition: str) -> list[IndexHit]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": partition}},
        }
        hits: list[IndexHit] = []
        while True:
            with dynamo.translated_errors():
                response = self.client.query(**request)
            hits += [_hit(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return hits
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def stored_digests(self, refs: Iterable[str]) -> dict[str, str]:
        """The content digest of each entry that exists, by reference (consistent reads)."""
        entries = (
            index_entry_from_item(item)
            for item in self.consistent_get([key_of_reference(ref) for ref in dict.fromkeys(refs)])
        )
        return {entry.ref: entry.digest for entry in entries}

    def write_entries(self, puts: list[IndexItem], deletes: list[str]) -> set[str]:
        """Put entries and delete entries by reference; the references that did not land."""
        return self._write([index_item(entry) for entry in puts], [key_of_reference(ref) for ref in deletes])

    def _write(self, puts: list[Item], deletes: list[dict[str, Any]]) -> set[str]:
        """Put and delete items in batches; the references ("pk<TAB>sk") that did not land."""
        requests = [{"PutRequest": {"Item": item}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key}} for key in deletes]
        failed: set[str] = set()
        for start in range(0, len(requests), _BATCH_WRITE):
            pending = requests[start : start + _BATCH_WRITE]
            for attempt in range(dynamo.ATTEMPTS):
                if not pending:
                    break
                self.backoff(attempt)
                try:
                    with dynamo.translated_errors():
                        response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except dynamo.PUSHBACK:
                    continue
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            failed |= {_reference(request) for request in pending}
        return failed


def shards_of(kind: str) -> int:
    """How many partitions hold the entries of one (kind, value)."""
    if kind in UNSHARDED_KINDS:
        return 1
    return ACTIVE_DAY_SHARDS if kind == ACTIVE_DAY else INDEX_SHARDS


def partitions(kind: str, value: str) -> list[str]:
    """Every partition a query of (kind, value) reads, one per shard, in shard order."""
    return [_partition(kind, value, shard) for shard in range(shards_of(kind))]


def placed(entries: Iterable[WantedEntry], identity: str, expires_at: int | None) -> dict[str, IndexItem]:
    """A task's wanted entries as stored items, by reference ("pk<TAB>sk"), each expiring at
    ``expires_at`` (the task's lease)."""
    items: dict[str, IndexItem] = {}
    for entry in entries:
        item = IndexItem(
            partition=_partition(entry.kind, entry.value, _shard(entry.kind, identity)),
            sort=f"{timestamp(entry.ordered_at)}#{identity}",
            identity=identity,
            projection=entry.projection,
            held_from=None if entry.held_from is None else timestamp(entry.held_from),
            held_until=None if entry.held_until is None else timestamp(entry.held_until),
            expires_at=expires_at,
        )
        items[item.ref] = item
    return items


def is_position(position: str) -> bool:
    """Whether ``position`` has the shape of a sort key this module writes (a cursor's per-shard
    position): at most DynamoDB's key size, starting with a timestamp."""
    return len(position.encode()) <= _MAX_SORT_KEY and position[:4].isdigit()


def within(position: str, low: str | None, high: str | None) -> bool:
    """Whether a sort key lies in the range ``query_shard`` reads for ``low``..``high`` (timestamps)."""
    return (low is None or position >= low) and (high is None or position <= high + "~")


def _shard(kind: str, identity: str) -> int:
    """A task's entries of one kind always land in the same shard (stable hash of its identity)."""
    count = shards_of(kind)
    if count == 1:
        return 0
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=4).digest(), "big") % count


def _partition(kind: str, value: str, shard: int) -> str:
    if kind == ACTIVE_DAY:
        kind, value = f"{_ACTIVE_DAY_PREFIX}{value}", _WHOLE_DAY
    return f"IX#{kind}#{value}#{shard}"


def _hit(item: Item) -> IndexHit:
    expires = item.get(Attr.EXPIRES, {}).get("N")
    return IndexHit(
        identity=item[Attr.REF]["S"],
        sort=item[SORT_KEY]["S"],
        projection=json.loads(item.get(Attr.PROJECTION, {}).get("S", "{}")),
        held_from=item.get(Attr.HELD_FROM, {}).get("S"),
        held_until=item.get(Attr.HELD_UNTIL, {}).get("S"),
        expires_at=int(expires) if expires else None,
        partition=item[PARTITION_KEY]["S"],
    )


def _reference(request: dict[str, Any]) -> str:
    item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
    return f"{item[PARTITION_KEY]['S']}\t{item[SORT_KEY]['S']}"
