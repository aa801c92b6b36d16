"""The indexer's reads and writes: markers, index entries and summary counters, in batches.

No transactions: index entries are written per task and idempotently (BatchWriteItem), counters by
one ``ADD`` per group per batch, and the per-task marker records exactly what has been applied, so
a replay or a retry after a partial failure applies nothing twice (see core/logic/indexer.py).

``request_reindex`` is the one write outside the indexer's own items: ``taskbeacon reindex`` moves a
task record's revision on (content untouched), so the stream delivers the record to the indexer again
and the indexer, the only writer of derived state, derives it anew (core/logic/reindex.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from core.model import CounterKey, IndexedState, IndexItem
from core.store import dynamo, keys
from core.store.records import Item, index_item, key_of_reference, marker_from_item, marker_item
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

_BATCH_WRITE = 25  # BatchWriteItem's limit per request
_BATCH_GET = 100  # BatchGetItem's limit per request
_ATTEMPTS = 6  # requests per chunk while DynamoDB leaves items unprocessed


class IndexStore(dynamo.TableAccess):
    def __init__(self, table_name: str, *, client: Any | None = None, sleep: Any = time.sleep):
        super().__init__(table_name, client)
        self._sleep = sleep

    def load_markers(self, identities: Iterable[str]) -> dict[str, IndexedState]:
        wanted = [keys.marker_key(identity) for identity in dict.fromkeys(identities)]
        found: dict[str, IndexedState] = {}
        for start in range(0, len(wanted), _BATCH_GET):
            pending: list[Any] = wanted[start : start + _BATCH_GET]
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                self._backoff(attempt)
                with dynamo.translated_errors():
                    response = self.client.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
                    )
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[keys.identity_of_partition(item[PARTITION_KEY]["S"])] = marker_from_item(item)
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if pending:
                raise dynamo.pushed_back()
        return found

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
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                self._backoff(attempt)
                try:
                    with dynamo.translated_errors():
                        response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except dynamo.PUSHBACK:
                    continue
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            failed |= {_reference(request) for request in pending}
        return failed

    def add_counters(self, deltas: dict[CounterKey, int], shard: int) -> set[CounterKey]:
        """One ``ADD`` per group into counter shard ``shard``; the groups that did not land."""
        failed: set[CounterKey] = set()
        for (dimension, group), delta in sorted(deltas.items()):
            if delta == 0:
                continue
            try:
                with dynamo.translated_errors():
                    self.client.update_item(
                        TableName=self.table_name,
                        Key={
                            PARTITION_KEY: {"S": keys.summary_partition(dimension, shard)},
                            SORT_KEY: {"S": group},
                        },
                        UpdateExpression="ADD #running :delta, #updates :one",
                        ExpressionAttributeNames={"#running": Attr.RUNNING, "#updates": Attr.UPDATES},
                        ExpressionAttributeValues={":delta": {"N": str(delta)}, ":one": {"N": "1"}},
                    )
            except dynamo.PUSHBACK:
                failed.add((dimension, group))
        return failed

    def save_markers(self, markers: dict[str, IndexedState], removed: Iterable[str]) -> None:
        """Markers of tasks still present; tasks whose record is gone lose marker and keepalive item."""
        puts = [marker_item(identity, state) for identity, state in markers.items()]
        deletes = [
            key for identity in removed for key in (keys.marker_key(identity), keys.seen_key(identity))
        ]
        if self._write(puts, deletes):
            raise dynamo.pushed_back()

    def request_reindex(self, identity: str, read_revision: int, new_revision: int) -> bool:
        """Move the record's revision from ``read_revision`` to ``new_revision``; False if the record
        changed (or went) since it was read: that change reaches the indexer by itself."""
        from botocore.exceptions import ClientError

        try:
            with dynamo.translated_errors():
                self.client.update_item(
                    TableName=self.table_name,
                    Key=keys.record_key(identity),
                    UpdateExpression="SET #rev = :new",
                    ConditionExpression="#rev = :read",
                    ExpressionAttributeNames={"#rev": Attr.REVISION},
                    ExpressionAttributeValues={
                        ":read": {"N": str(read_revision)},
                        ":new": {"N": str(new_revision)},
                    },
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _backoff(self, attempt: int) -> None:
        if attempt:
            self._sleep(min(0.05 * 2**attempt, 1.0) * random.random())  # noqa: S311 - jitter, not crypto


def _reference(request: dict[str, Any]) -> str:
    item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
    return f"{item[PARTITION_KEY]['S']}\t{item[SORT_KEY]['S']}"
