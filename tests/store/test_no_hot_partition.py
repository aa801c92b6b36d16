"""No hot item, no hot partition: a mass restart of 1,000 starts and 1,000 stops a second.

A synthetic restart is replayed through the real indexer on an in-memory table that records every
write with the (simulated) second it happened in. The worst case for shared keys is used: every
task in one account, region, cluster, service, family, availability zone, launch type and image.
The stream is consumed as the event source mapping would: records are spread over 16 concurrent
batch processors (4 stream shards x parallelization 4, by task, as a shard keeps one item's records
together), each delivering one batch a second (1 s batching window). DynamoDB's limits are 1,000
write units a second per item and per partition key; the indexer must stay well under both.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from core.logic.indexer import Indexer
from core.logic.lease import first_lease
from core.model import Container, Network, StreamChange, Task, TaskRecord, task_identity
from core.store.index import IndexStore
from core.store.records import item_size, record_item
from core.store.tasks import TaskStore

STARTS_PER_SECOND = 1000
STOPS_PER_SECOND = 1000
SECONDS = 4
PROCESSORS = 16
LIMIT = 1000  # write units a second, per item and per partition key
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


class RecordingTable:
    """An in-memory stand-in for the two calls the indexer makes, counting write units per second."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.second = 0
        self.units_per_item: Counter[tuple[int, str, str]] = Counter()
        self.units_per_partition: Counter[tuple[int, str]] = Counter()

    def _written(self, item: dict[str, Any]) -> None:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        units = max(1, math.ceil(item_size(item) / 1024))
        self.units_per_item[(self.second, pk, sk)] += units
        self.units_per_partition[(self.second, pk)] += units

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        found = [
            self.items[(k["pk"]["S"], k["sk"]["S"])]
            for k in request["Keys"]
            if (k["pk"]["S"], k["sk"]["S"]) in self.items
        ]
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((_, requests),) = RequestItems.items()
        assert len(requests) <= 25
        for request in requests:
            if "PutRequest" in request:
                item = request["PutRequest"]["Item"]
                self.items[(item["pk"]["S"], item["sk"]["S"])] = item
                self._written(item)
            else:
                key = request["DeleteRequest"]["Key"]
                self.items.pop((key["pk"]["S"], key["sk"]["S"]), None)
                self._written(key)
        return {"UnprocessedItems": {}}


def _task(number: int, status: str, started: datetime, stopped: datetime | None) -> Task:
    task_id = f"{number:032x}"
    account, region = "111122223333", "us-east-1"
    return Task(
        task_arn=f"arn:aws:ecs:{region}:{account}:task/prod/{task_id}",
        task_id=task_id,
        account_id=account,
        region=region,
        cluster_arn=f"arn:aws:ecs:{region}:{account}:cluster/prod",
        cluster_name="prod",
        family="web",
        revision="7",
        service_name="web",
        launch_type="FARGATE",
        availability_zone="us-east-1a",
        last_status=status,
        desired_status=status,
        started_at=started,
        stopped_at=stopped,
        first_seen_at=started,
        containers=[
            Container(
                name=name,
                image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:1.4.2",
                image_digest="sha256:" + "ab" * 32,
                docker_id=f"{number:032x}{index:032x}",
                networks=[
                    Network(
                        network_mode="awsvpc",
                        ipv4_addresses=[f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"],
                    )
                ],
            )
            for index, name in enumerate(("app", "envoy", "log-router"))
        ],
    )


def _record(number: int, revision: int, status: str, second: int) -> TaskRecord:
    started = T0 + timedelta(seconds=number // STARTS_PER_SECOND)
    stopped = T0 + timedelta(seconds=second) if status == "STOPPED" else None
    t = _task(number, status, started, stopped)
    return TaskRecord(task=t, revision=revision, lease_until=first_lease(started, 30))


def _change(table: RecordingTable, number: int, revision: int, status: str, second: int) -> StreamChange:
    """The request path's write of the record (its own partition: not counted here) and its stream record."""
    record = _record(number, revision, status, second)
    identity = task_identity(record.task)
    expires = int((T0 + timedelta(days=44)).timestamp()) if status == "STOPPED" else None
    item = record_item(identity, record, [], expires)
    table.items[(item["pk"]["S"], item["sk"]["S"])] = item
    old = _record(number, 1, "RUNNING", second) if revision > 1 else None
    return StreamChange(identity, str(number * 10 + revision), record, expires, old=old)


def test_a_mass_restart_keeps_every_item_and_partition_under_its_limit() -> None:
    table = RecordingTable()
    indexer = Indexer(
        TaskStore("tasks", client=table, sleep=lambda _: None),
        IndexStore("tasks", client=table, sleep=lambda _: None),
    )
    for second in range(-1, SECONDS):
        table.second = second
        started = range((second + 1) * STARTS_PER_SECOND, (second + 2) * STARTS_PER_SECOND)
        stopping = (
            range(second * STARTS_PER_SECOND, (second + 1) * STARTS_PER_SECOND) if second >= 0 else range(0)
        )
        changes = [_change(table, n, 1, "RUNNING", second) for n in started]
        changes += [_change(table, n, 2, "STOPPED", second) for n in stopping]
        batches: dict[int, list[StreamChange]] = {}
        for change in changes:  # one stream shard keeps a task's records together
            batches.setdefault(hash(change.identity) % PROCESSORS, []).append(change)
        for batch in batches.values():
            result = indexer.apply(batch)
            assert result.failed_sequences == []

    counted = [(s, pk, sk, units) for (s, pk, sk), units in table.units_per_item.items() if s >= 0]
    partitions = [(s, pk, units) for (s, pk), units in table.units_per_partition.items() if s >= 0]
    hottest_item = max(units for *_, units in counted)
    hottest_partition = max(partitions, key=lambda row: row[2])
    # The restart did happen: every task's entries were written, and its stop wrote its day entries.
    assert sum(units for *_, units in partitions) > SECONDS * (STARTS_PER_SECOND + STOPS_PER_SECOND) * 5
    assert hottest_item <= 2  # no item is shared: each entry is one task's, written or deleted once
    assert hottest_partition[2] <= LIMIT // 2, hottest_partition  # half the limit: room for retries and skew
    # The summary, counted from the live partition: the last second's starts are still running.
    running = sum(
        1
        for (pk, _), item in table.items.items()
        if pk.startswith("IX#live#") and json.loads(item["p"]["S"]).get("status") == "RUNNING"
    )
    assert running == STARTS_PER_SECOND
