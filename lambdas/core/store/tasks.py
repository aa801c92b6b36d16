"""A task's own partition ``TASK#<identity>``: its record and keepalive item, read and written.

The one store of the task aggregate (docs/decisions.md "Layout"); index entries are core/store/index.py's.

Reads: ``load`` (the request path's strongly consistent Query, before a merge), ``load_task`` and
``load_tasks``/``task_items`` (the query path's, eventually consistent; BatchGetItem for pages), and
``current_records`` (the indexer's, consistent). Every read decodes through ``records.stored_task``.

Writes, each one request on the task's own partition:
- ``touch``: a keepalive that repeats the newest snapshot's content moves the small keepalive
  item forward (conditional UpdateItem, ~100 bytes: 1 write unit, no read);
- ``save`` with one item: an event or a snapshot that changed the task (the record, ~1.3 KB
  compressed: 2 write units), or a snapshot that changed nothing but its order key (the keepalive
  item, which the first keepalive creates), each one conditional put;
  the keepalive item carries its own TTL, moved on by each write of it (a record's removal reaches
  no indexer, so nothing else would delete it);
- ``save`` with both: a snapshot that changed a task that already has a keepalive item (a two-item
  transaction of the task's own items, conditional on both being as read: tasks past 12 hours);
- ``renew_lease`` (the reconciler) and ``request_reindex`` (``taskbeacon reindex``): the record's
  lease or reindex mark moves on with its revision, so the stream carries it to the indexer, the
  only writer of derived state (core/logic/reconcile.py, core/logic/reindex.py).
No request writes an item another task writes; index entries follow from the stream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import PayloadTooLarge, Throttled
from core.model import SeenState, StoredTask, TaskRecord, TaskState
from core.model.time import timestamp
from core.store import dynamo, keys
from core.store.records import (
    Item,
    item_size,
    record_from_item,
    record_item,
    seen_item,
    stored_task,
    task_state,
)
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

# DynamoDB's hard item limit is 400 KB; stay well clear so the record can always be rewritten.
MAX_RECORD_BYTES = 300_000
_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_BATCH_GET_RETRIES = 4  # extra requests allowed for keys DynamoDB left unprocessed


class LostRace(Exception):
    """Another writer changed the task between our read and our write: read and merge again."""


@dataclass(frozen=True)
class WritePlan:
    """What to write for one task, and the state it must still be in (optimistic concurrency)."""

    identity: str
    read: TaskState
    record: TaskRecord | None = None  # the new record, or None to leave it
    seen: SeenState | None = None  # the new keepalive item, or None to leave it
    expires_at: int | None = None
    seen_expires_at: int | None = None  # the keepalive item's TTL (each write moves it on)


@dataclass(frozen=True)
class WriteCost:
    items: int  # items written (0: nothing)
    transactional: bool
    bytes: int  # DynamoDB size of what was written (write units follow from it)


class TaskStore(dynamo.TableAccess):
    """Reads and writes the items of single tasks (record, keepalive item) in one table."""

    def __init__(self, table_name: str, *, client: Any | None = None, sleep: Any = time.sleep):
        super().__init__(table_name, client, sleep=sleep)

    def load(self, identity: str) -> TaskState:
        """The record and keepalive item of one task: one strongly consistent Query (the write path)."""
        return task_state(self._record_and_keepalive(identity, consistent=True))

    def _record_and_keepalive(self, identity: str, *, consistent: bool) -> list[dict[str, Any]]:
        """One Query of the task's partition from the keepalive item on: SEEN and TASK sort after INDEXED."""
        with dynamo.translated_errors():
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="#pk = :pk AND #sk >= :seen",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
                ExpressionAttributeValues={
                    ":pk": {"S": keys.task_partition(identity)},
                    ":seen": {"S": keys.SEEN_SK},
                },
                ConsistentRead=consistent,
            )
        items: list[dict[str, Any]] = response.get("Items", [])
        return items

    def touch(
        self,
        identity: str,
        snapshot_key: str,
        content_hash: str,
        seen_at: datetime,
        expires_at: int | None = None,
    ) -> bool:
        """Move the keepalive item forward (and its TTL on) if the snapshot repeats its content and
        is newer."""
        return self._conditional_update(
            Key=keys.seen_key(identity),
            UpdateExpression="SET #key = :key, #at = :at"
            + (", #exp = :exp" if expires_at is not None else ""),
            ConditionExpression="#hash = :hash AND #key < :key",
            ExpressionAttributeNames={
                "#key": Attr.SNAPSHOT_KEY,
                "#at": Attr.SEEN_AT,
                "#hash": Attr.CONTENT_HASH,
                **({"#exp": Attr.EXPIRES} if expires_at is not None else {}),
            },
            ExpressionAttributeValues={
                ":key": {"S": snapshot_key},
                ":at": {"S": timestamp(seen_at)},
                ":hash": {"S": content_hash},
                **({":exp": {"N": str(expires_at)}} if expires_at is not None else {}),
            },
        )

    def renew_lease(self, identity: str, lease_until: int, new_lease: int) -> bool:
        """Move a task's lease on (and its revision, so the stream carries it to the indexer); False
        if the record's lease is not ``lease_until`` any more, or the record is gone."""
        return self._conditional_update(
            Key=keys.record_key(identity),
            UpdateExpression="SET #lease = :new ADD #rev :one",
            ConditionExpression="#lease = :old",
            ExpressionAttributeNames={"#lease": Attr.LEASE, "#rev": Attr.REVISION},
            ExpressionAttributeValues={
                ":old": {"N": str(lease_until)},
                ":new": {"N": str(new_lease)},
                ":one": {"N": "1"},
            },
        )

    def render(self, plan: WritePlan) -> list[dict[str, Any]]:
        """The conditional puts a plan makes; PayloadTooLarge before anything is sent."""
        writes = []
        if plan.record is not None:
            writes.append(self._record_put(plan))
        if plan.seen is not None:
            writes.append(self._seen_put(plan))
        return writes

    def save(self, plan: WritePlan, writes: list[dict[str, Any]] | None = None) -> WriteCost:
        """Write what the plan says, conditional on the state it read; LostRace if that changed."""
        from botocore.exceptions import ClientError

        writes = self.render(plan) if writes is None else writes
        if not writes:
            return WriteCost(0, transactional=False, bytes=0)
        size = sum(item_size(write["Item"]) for write in writes)
        try:
            with dynamo.translated_errors():
                if len(writes) == 1:
                    self.client.put_item(**writes[0])
                else:
                    self.client.transact_write_items(TransactItems=[{"Put": write} for write in writes])
        except ClientError as error:
            if _condition_failed(error):
                raise LostRace(plan.identity) from error
            raise
        return WriteCost(len(writes), transactional=len(writes) > 1, bytes=size)

    def _record_put(self, plan: WritePlan) -> dict[str, Any]:
        assert plan.record is not None
        item = self._fitted_record(plan.identity, plan.record, plan.expires_at)
        put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        current = plan.read.record
        if current is None:
            put["ConditionExpression"] = "attribute_not_exists(#pk)"
            put["ExpressionAttributeNames"] = {"#pk": PARTITION_KEY}
        else:
            put["ConditionExpression"] = "#rev = :rev"
            put["ExpressionAttributeNames"] = {"#rev": Attr.REVISION}
            put["ExpressionAttributeValues"] = {":rev": {"N": str(current.revision)}}
        return put

    def _seen_put(self, plan: WritePlan) -> dict[str, Any]:
        assert plan.seen is not None
        put: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": seen_item(plan.identity, plan.seen, plan.seen_expires_at),
        }
        before = plan.read.seen
        if before is None or before.snapshot_key is None:
            put["ConditionExpression"] = "attribute_not_exists(#key)"
            put["ExpressionAttributeNames"] = {"#key": Attr.SNAPSHOT_KEY}
        else:
            put["ConditionExpression"] = "#key = :key"
            put["ExpressionAttributeNames"] = {"#key": Attr.SNAPSHOT_KEY}
            put["ExpressionAttributeValues"] = {":key": {"S": before.snapshot_key}}
        return put

    def _fitted_record(self, identity: str, record: TaskRecord, expires_at: int | None) -> Item:
        """The record item; its history gives way (oldest first) so a large task can always take
        its next update, above all the event that stops it."""
        item = record_item(identity, record, [], expires_at)
        size = item_size(item)
        if size > MAX_RECORD_BYTES:
            raise PayloadTooLarge(
                f"task record would be {size} bytes; the limit is {MAX_RECORD_BYTES}", field="task"
            )
        history = list(record.history)
        while True:
            item = record_item(identity, record, history, expires_at)
            if not history or item_size(item) <= MAX_RECORD_BYTES:
                return item
            history = history[max(1, len(history) // 4) :]

    def load_task(self, identity: str) -> StoredTask | None:
        """The record and keepalive item of one task: one eventually consistent Query (the read path)."""
        return stored_task(self._record_and_keepalive(identity, consistent=False))

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

    def current_records(self, identities: list[str]) -> dict[str, TaskRecord | Exception]:
        """Each task's record as it is now (consistent reads); a record that cannot be decoded is
        its error. A task with no record is absent."""
        found: dict[str, TaskRecord | Exception] = {}
        wanted = [keys.record_key(identity) for identity in dict.fromkeys(identities)]
        for item in self.consistent_get(wanted):
            identity = keys.identity_of_partition(item[PARTITION_KEY]["S"])
            try:
                found[identity] = record_from_item(item)
            except (KeyError, ValueError, TypeError) as error:
                found[identity] = error
        return found

    def request_reindex(self, identity: str, read_revision: int, mark: int) -> bool:
        """Move the record's revision on and its reindex mark to ``mark`` (content untouched), so the
        indexer puts every entry it wants again; False if the record changed (or went) since it was
        read at ``read_revision``: that change reaches the indexer by itself."""
        return self._conditional_update(
            Key=keys.record_key(identity),
            UpdateExpression="SET #rev = :new, #mark = :mark",
            ConditionExpression="#rev = :read",
            ExpressionAttributeNames={"#rev": Attr.REVISION, "#mark": Attr.REINDEX},
            ExpressionAttributeValues={
                ":read": {"N": str(read_revision)},
                ":new": {"N": str(read_revision + 1)},
                ":mark": {"N": str(mark)},
            },
        )

    def _conditional_update(self, **request: Any) -> bool:
        """One conditional ``UpdateItem`` of this table; False when its condition does not hold."""
        from botocore.exceptions import ClientError

        try:
            with dynamo.translated_errors():
                self.client.update_item(TableName=self.table_name, **request)
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True


def _condition_failed(error: Exception) -> bool:
    response = getattr(error, "response", {})
    code = response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons", [])
    return any((r or {}).get("Code") in {"ConditionalCheckFailed", "TransactionConflict"} for r in reasons)
