"""The query path's reads: a task's partition, index shards page by page or whole. Never a Scan."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import Throttled
from core.model import StoredTask
from core.store import dynamo, keys
from core.store.records import Item, stored_task
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_BATCH_GET_RETRIES = 4  # extra requests allowed for keys DynamoDB left unprocessed


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


class Reader(dynamo.TableAccess):
    def load_task(self, identity: str) -> StoredTask | None:
        """The record and keepalive item of one task: one Query of its partition."""
        with dynamo.translated_errors():
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="#pk = :pk AND #sk >= :seen",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
                ExpressionAttributeValues={
                    ":pk": {"S": keys.task_partition(identity)},
                    ":seen": {"S": keys.SEEN_SK},
                },
            )
        return stored_task(response.get("Items", []))

    def load_tasks(
        self, identities: list[str], *, seen_of: Callable[[StoredTask], bool] | None = None
    ) -> dict[str, StoredTask]:
        """Records of many tasks, with the keepalive item of those ``seen_of`` names (all when it is
        None), read after the records; unprocessed keys are retried."""
        if seen_of is None:
            items = self.task_items(identities)
        else:
            items = self.task_items(identities, with_seen=False)
            records = {identity: stored_task(parts) for identity, parts in items.items()}
            wanted = [identity for identity, task in records.items() if task is not None and seen_of(task)]
            for identity, parts in self.task_items(wanted, only_seen=True).items():
                items[identity] = items.get(identity, []) + parts
        found = {identity: stored_task(parts) for identity, parts in items.items()}
        return {identity: task for identity, task in found.items() if task is not None}

    def task_items(
        self, identities: list[str], *, with_seen: bool = True, only_seen: bool = False
    ) -> dict[str, list[Item]]:
        """The stored items of many tasks (record, and keepalive item unless ``with_seen`` is False;
        the keepalive item alone with ``only_seen``), by identity, unconverted: a caller that must
        survive one unreadable record converts each."""
        by_identity: dict[str, list[Item]] = {}
        sort_keys: tuple[Callable[[str], keys.Key], ...] = (keys.record_key,)
        if only_seen:
            sort_keys = (keys.seen_key,)
        elif with_seen:
            sort_keys = (keys.record_key, keys.seen_key)
        pending = [key(i) for i in dict.fromkeys(identities) for key in sort_keys]
        requests = 0
        budget = -(-len(pending) // _BATCH_GET_KEYS) + _BATCH_GET_RETRIES
        while pending:
            if requests >= budget:
                # DynamoDB kept keys unprocessed (throttled): a page with holes would be wrong.
                raise Throttled("the inventory is busy; retry later", retry_after=1)
            if requests:
                time.sleep(min(0.05 * 2**requests, 0.5) * random.random())  # noqa: S311 - jitter
            requests += 1
            chunk, pending = pending[:_BATCH_GET_KEYS], pending[_BATCH_GET_KEYS:]
            with dynamo.translated_errors():
                response = self.client.batch_get_item(RequestItems={self.table_name: {"Keys": chunk}})
            for item in response.get("Responses", {}).get(self.table_name, []):
                by_identity.setdefault(keys.identity_of_partition(item[PARTITION_KEY]["S"]), []).append(item)
            pending += response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
        return by_identity

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
