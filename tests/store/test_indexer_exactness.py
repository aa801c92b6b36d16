"""The indexer is exact under at-least-once delivery.

The stream records of a realistic history (starts, keepalives, changes, stops, events, for several
tasks) are captured once; then they are delivered again in the ways Lambda may deliver them:
duplicated and replayed after newer ones, interleaved across shards in any order that keeps each
task's own order, in batches of any size, and with writes failing part-way and retried from the
reported record. Every way must end in the same index entries as one clean delivery, and those must
be exactly the entries the stored records want (no marker is kept: the indexer derives puts and
deletes from the stream's old and new images).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.logic.indexer import wanted
from core.model import Observation
from core.store import keys
from core.store.records import index_item, record_from_item
from core.store.schema import create_table_request
from taskbeacon.local.aws.stream_pump import StreamPump
from tests.store.builders import T0, event, snapshot, task
from tests.store.inventory import Inventory, all_items

CHECK = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _history() -> list[Observation]:
    plays: list[Observation] = []
    for number in (1, 2, 3):
        plays += [
            event(task(number, status="PENDING"), version=1, second=number),
            snapshot(task(number), second=10 + number, reason="start"),
            snapshot(task(number), second=20 + number, reason="keepalive"),
            snapshot(
                task(number, image="nginx:1.28", ip=f"10.0.1.{number}"), second=30 + number, reason="change"
            ),
        ]
    plays += [
        snapshot(task(2, status="STOPPED", image="nginx:1.28", ip="10.0.1.2"), second=50, reason="stop"),
        event(
            task(2, status="STOPPED", stopped_reason="Scaling activity", exit_code=0), version=5, second=51
        ),
    ]
    return plays


def _fresh(client: Any) -> str:
    table = f"ix-{uuid.uuid4().hex[:12]}"
    client.create_table(**create_table_request(table))
    return table


def _captured(client: Any) -> tuple[Inventory, list[dict[str, Any]]]:
    """Write the history and capture its stream records without indexing them."""
    inventory = Inventory(client, _fresh(client))
    records: list[dict[str, Any]] = []

    def capture(event_: dict[str, Any], context: Any = None) -> dict[str, Any]:
        records.extend(event_["Records"])
        return {"batchItemFailures": []}

    pump = StreamPump(client, inventory.table, capture)
    for observation in _history():
        inventory.recorder.apply(observation, now=T0)  # one clock, so every run writes the same keys
        pump.drain()
    return inventory, records


def _canonical(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def _derived(client: Any, table: str) -> list[str]:
    """Every index entry in the table, whole (keys, projection, expiry)."""
    return _canonical([item for item in all_items(client, table) if item["pk"]["S"].startswith("IX#")])


def _truth(client: Any, table: str) -> list[str]:
    """The entries the stored records themselves want."""
    implied: list[dict[str, Any]] = []
    for item in all_items(client, table):
        if item["sk"]["S"] == "TASK":
            identity = keys.identity_of_partition(item["pk"]["S"])
            implied += [index_item(entry) for entry in wanted(record_from_item(item), identity).values()]
    return _canonical(implied)


def _deliver(inventory: Inventory, batches: list[list[dict[str, Any]]]) -> None:
    for batch in batches:
        answer = inventory.index_event({"Records": batch})
        assert answer == {"batchItemFailures": []}


def _clean(client: Any) -> list[str]:
    inventory, records = _captured(client)
    _deliver(inventory, [records])
    derived = _derived(client, inventory.table)
    assert derived == _truth(client, inventory.table)
    return derived


@CHECK
@given(st.data())
def test_duplicates_and_replays_change_nothing(dynamodb: Any, data: st.DataObject) -> None:
    expected = _clean(dynamodb)
    inventory, records = _captured(dynamodb)
    delivered: list[list[dict[str, Any]]] = []
    for record in records:
        delivered.append([record])
        if data.draw(st.booleans()):  # redeliver something already delivered: a duplicate or an old replay
            delivered.append(data.draw(st.sampled_from(delivered)))
    _deliver(inventory, delivered)
    assert _derived(dynamodb, inventory.table) == expected


@CHECK
@given(st.data())
def test_records_interleaved_across_shards_in_any_batching_end_the_same(
    dynamodb: Any, data: st.DataObject
) -> None:
    expected = _clean(dynamodb)
    inventory, records = _captured(dynamodb)
    per_task: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        per_task.setdefault(record["dynamodb"]["Keys"]["pk"]["S"], []).append(record)
    queues = list(per_task.values())
    order: list[dict[str, Any]] = []
    while any(queues):  # each task's records stay in order, as within one shard; tasks interleave freely
        queue = data.draw(st.sampled_from([q for q in queues if q]))
        order.append(queue.pop(0))
    batches: list[list[dict[str, Any]]] = []
    while order:
        size = data.draw(st.integers(1, 7))
        batches.append(order[:size])
        order = order[size:]
    _deliver(inventory, batches)
    assert _derived(dynamodb, inventory.table) == expected


class _Flaky:
    """The moto client, except that chosen indexer writes are pushed back (throttled) once each."""

    def __init__(
        self, client: Any, failures: set[int], operations: tuple[str, ...] = ("BatchWriteItem",)
    ) -> None:
        self._client, self._failures, self._calls, self._operations = client, failures, 0, operations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _maybe_fail(self, operation: str) -> None:
        if operation not in self._operations:
            return
        self._calls += 1
        if self._calls in self._failures:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, operation)  # type: ignore[arg-type]

    def update_item(self, **request: Any) -> Any:
        self._maybe_fail("UpdateItem")
        return self._client.update_item(**request)

    def batch_write_item(self, **request: Any) -> Any:
        self._maybe_fail("BatchWriteItem")
        return self._client.batch_write_item(**request)


@CHECK
@given(st.sets(st.integers(1, 60), max_size=12))
def test_a_retry_after_a_partial_failure_applies_only_what_is_missing(
    dynamodb: Any, failures: set[int]
) -> None:
    expected = _clean(dynamodb)
    inventory, records = _captured(dynamodb)
    flaky = Inventory(_Flaky(dynamodb, failures), inventory.table)
    reported: list[str] = []
    pending = list(records)
    while pending:  # what the event source mapping does with a partial batch response
        answer = flaky.index_event({"Records": pending[:5]})
        failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
        if not failed:
            pending = pending[5:]
            continue
        reported += failed
        resume = next(i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] == failed[0])
        pending = pending[resume:]
    assert _derived(dynamodb, inventory.table) == expected


def test_entries_pushed_back_are_reported_and_the_retry_puts_them(dynamodb: Any) -> None:
    expected = _clean(dynamodb)
    inventory, records = _captured(dynamodb)
    flaky = Inventory(_Flaky(dynamodb, failures=set(range(1, 200))), inventory.table)
    answer = flaky.index_event({"Records": records})
    assert answer["batchItemFailures"] == [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    assert _derived(dynamodb, inventory.table) == []
    _deliver(inventory, [records])  # Lambda's retry of the same records
    assert _derived(dynamodb, inventory.table) == expected


def test_a_longer_run_that_deleted_an_entry_is_undone_by_its_retry(dynamodb: Any) -> None:
    """An attempt over a task's changes A→B→A deletes nothing (A is wanted at the end); a retry from
    the middle (B→A) must still end with A's entries: puts come from every image the retry holds."""
    expected = _clean(dynamodb)
    inventory, records = _captured(dynamodb)
    _deliver(inventory, [records])
    for start in range(len(records)):  # a retry from any record, as after a reported failure
        _deliver(inventory, [records[start:]])
        assert _derived(dynamodb, inventory.table) == expected
