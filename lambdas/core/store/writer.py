"""The newer-wins write: read, merge, then one conditional transaction (all-or-nothing).

The transaction puts the task record on the condition that its revision is still the one read,
and in the same breath puts/deletes the changed index entries and adjusts summary counters. A lost
race re-reads and merges again; a repeated report merges to "no change" and writes nothing, so
every request is safely repeatable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import PayloadTooLarge, Throttled
from core.logic.indexing import index_entries, projection, summary_contributions
from core.logic.merge import TaskRecord, merge
from core.model import Observation, Task
from core.store import dynamo, keys
from core.store.records import STORED_DOC, dumps, expires_at, record_from_item, task_document
from core.store.schema import PARTITION_KEY, SORT_KEY

MAX_TRANSACTION_ITEMS = 100
# DynamoDB's hard item limit is 400 KB; stay well clear so the record can always be rewritten.
MAX_RECORD_BYTES = 300_000
_MAX_RACE_RETRIES = 8


@dataclass(frozen=True)
class WriteOutcome:
    task_id: str
    changed: bool
    write_items: int  # items in the transaction (0 when nothing changed): the write cost


class Store:
    """Writes observations to one table. ``table_name`` and ``retention_days`` come from settings."""

    def __init__(
        self, table_name: str, *, retention_days: int, history_limit: int, client: Any | None = None
    ):
        self.table_name = table_name
        self.retention_days = retention_days
        self.history_limit = history_limit
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamo.client()
        return self._client

    def load(self, task_id: str) -> TaskRecord | None:
        with dynamo.translated_errors():
            response = self.client.get_item(
                TableName=self.table_name, Key=keys.task_key(task_id), ConsistentRead=True
            )
        item = response.get("Item")
        return record_from_item(item) if item else None

    def apply(self, observation: Observation, *, now: datetime | None = None) -> WriteOutcome:
        """Merge ``observation`` into its task; retried from a fresh read if another writer won a race."""
        return self.apply_all([observation], now=now)[0]

    def apply_all(
        self, observations: list[Observation], *, now: datetime | None = None
    ) -> list[WriteOutcome]:
        """Apply several observations (a daemon's report), each task in its own transaction.

        Every write is prepared (read, merged, checked against the size limits) before the first
        one is sent, so a request that cannot land writes nothing. It may still stop part-way: under
        DynamoDB pushback, or when a task that lost a race to another writer no longer fits once
        merged again. Each task's write is atomic either way, and a retry of the same request
        merges the tasks already written to "no change", so it converges.
        """
        prepared = [self._prepare(observation, now) for observation in observations]
        return [
            self._commit(observation, plan, now)
            for observation, plan in zip(observations, prepared, strict=True)
        ]

    def _prepare(self, observation: Observation, now: datetime | None) -> list[dict[str, Any]] | None:
        """The transaction turning the stored record into the merged one; None when nothing changes."""
        current = self.load(observation.task.task_id)
        moment = now or datetime.now(UTC)
        updated = merge(current, observation, now=moment, history_limit=self.history_limit)
        if updated is None:
            return None
        return self._transaction(current, updated, moment)

    def _commit(
        self, observation: Observation, items: list[dict[str, Any]] | None, now: datetime | None
    ) -> WriteOutcome:
        from botocore.exceptions import ClientError

        task_id = observation.task.task_id
        for attempt in range(_MAX_RACE_RETRIES):
            if attempt:
                items = self._prepare(observation, now)  # another writer won: read and merge again
            if items is None:
                return WriteOutcome(task_id, changed=False, write_items=0)
            try:
                with dynamo.translated_errors():
                    if len(items) == 1:
                        # Only the record changed (a keepalive): a conditional put costs half a transaction.
                        self.client.put_item(**items[0]["Put"])
                    else:
                        self.client.transact_write_items(TransactItems=items)
            except ClientError as error:
                if _lost_race(error):
                    continue
                raise
            return WriteOutcome(task_id, changed=True, write_items=len(items))
        raise Throttled(f"task {task_id} is being written concurrently; retry later", retry_after=1)

    def _transaction(
        self, current: TaskRecord | None, updated: TaskRecord, now: datetime
    ) -> list[dict[str, Any]]:
        task = updated.task
        expiry = expires_at(task, now=now, retention_days=self.retention_days)
        wanted, truncated = self._index_items(task, expiry)
        indexed_before: dict[str, str] = current.extra.get("indexed", {}) if current else {}
        summed_before = set(current.extra.get("summed", [])) if current else set()
        summed_after = summary_contributions(task)

        items: list[dict[str, Any]] = []
        for ref, (item, digest) in wanted.items():
            if indexed_before.get(ref) != digest:
                items.append({"Put": {"TableName": self.table_name, "Item": item}})
        for ref in indexed_before.keys() - wanted.keys():
            pk, sk = ref.split("\t", 1)
            key = {PARTITION_KEY: {"S": pk}, SORT_KEY: {"S": sk}}
            items.append({"Delete": {"TableName": self.table_name, "Key": key}})
        for dimension, group in sorted(summed_after - summed_before):
            items.append(self._count(dimension, group, +1))
        for dimension, group in sorted(summed_before - summed_after):
            items.append(self._count(dimension, group, -1))

        record = self._record_item(
            updated, expiry, {ref: d for ref, (_, d) in wanted.items()}, summed_after, truncated
        )
        put: dict[str, Any] = {"TableName": self.table_name, "Item": record}
        if current is None:
            put["ConditionExpression"] = "attribute_not_exists(#pk)"
            put["ExpressionAttributeNames"] = {"#pk": PARTITION_KEY}
        else:
            put["ConditionExpression"] = "#rev = :rev"
            put["ExpressionAttributeNames"] = {"#rev": "rev"}
            put["ExpressionAttributeValues"] = {":rev": {"N": str(current.revision)}}
        items.insert(0, {"Put": put})
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise PayloadTooLarge(
                f"task {task.task_id} changes too many indexed values at once", field="task"
            )
        return items

    def _record_item(
        self,
        record: TaskRecord,
        expiry: int | None,
        indexed: dict[str, str],
        summed: set[tuple[str, str]],
        truncated: bool,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            **keys.task_key(record.task.task_id),
            STORED_DOC: {"S": dumps(task_document(record.task))},
            "rev": {"N": str(record.revision)},
            "ix": {"S": dumps(indexed)},
            "sums": {"S": dumps(sorted(summed))},
            "ixTrunc": {"BOOL": truncated},
        }
        if record.snapshot_key is not None:
            item["snapKey"] = {"S": record.snapshot_key}
        if record.event_version is not None:
            item["evtVer"] = {"N": str(record.event_version)}
        if expiry is not None:
            item["expiresAt"] = {"N": str(expiry)}
        size = item_size(item)
        if size > MAX_RECORD_BYTES:
            raise PayloadTooLarge(
                f"task record would be {size} bytes; the limit is {MAX_RECORD_BYTES}", field="task"
            )
        # The history gives way (oldest entries first) so a large task can always take its next
        # update, above all the event that stops it.
        history = list(record.history)
        room = MAX_RECORD_BYTES - size - len("hist")
        while history and len(dumps(history).encode()) > room:
            history = history[max(1, len(history) // 4) :]
        item["hist"] = {"S": dumps(history)}
        return item

    def _index_items(
        self, task: Task, expiry: int | None
    ) -> tuple[dict[str, tuple[dict[str, Any], str]], bool]:
        """Index items keyed by "pk<TAB>sk", each with a digest of its content to skip unchanged ones."""
        assert task.first_seen_at is not None  # merge() always sets it
        entries, truncated = index_entries(task)
        sort = keys.index_sort(task.first_seen_at, task.task_id)
        shown = dumps(projection(task))
        held_from = task.started_at or task.first_seen_at
        wanted: dict[str, tuple[dict[str, Any], str]] = {}
        for entry in entries:
            pk = keys.index_partition(entry.kind, entry.value)
            item: dict[str, Any] = {
                PARTITION_KEY: {"S": pk},
                SORT_KEY: {"S": sort},
                "taskId": {"S": task.task_id},
                "p": {"S": shown},
            }
            if entry.kind == "ip":
                # awsvpc and bridge addresses are held for the task's life; the ENI goes with the task.
                item["heldFrom"] = {"S": keys.timestamp(held_from)}
                if task.stopped_at is not None:
                    item["heldUntil"] = {"S": keys.timestamp(task.stopped_at)}
            if expiry is not None:
                item["expiresAt"] = {"N": str(expiry)}
            digest = hashlib.sha256(dumps(item).encode()).hexdigest()[:16]
            wanted[f"{pk}\t{sort}"] = (item, digest)
        return wanted, truncated

    def _count(self, dimension: str, group: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {PARTITION_KEY: {"S": keys.summary_partition(dimension)}, SORT_KEY: {"S": group}},
                "UpdateExpression": "ADD #running :delta",
                "ExpressionAttributeNames": {"#running": "running"},
                "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
            }
        }


def item_size(item: dict[str, Any]) -> int:
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


def _lost_race(error: Exception) -> bool:
    response = getattr(error, "response", {})
    code = response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons", [])
    return any(r.get("Code") in {"ConditionalCheckFailed", "TransactionConflict"} for r in reasons)
