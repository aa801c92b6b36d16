"""The reconciler recomputes the counters from the index, repairs drift and counts it."""

from __future__ import annotations

from typing import Any

from core.logic.reconcile import Reconciler
from core.store import keys
from core.store.index_writer import IndexStore
from core.store.reader import Reader
from tests.store.builders import snapshot, task
from tests.store.inventory import Inventory

CLUSTER = "arn:aws:ecs:us-east-1:111122223333:cluster/prod"


def _reconciler(client: Any, on_pause: Any = None) -> Reconciler:
    return Reconciler(
        Reader("tasks", client=client),
        IndexStore("tasks", client=client, sleep=lambda _: None),
        settle_seconds=0,
        sleep=on_pause or (lambda _: None),
    )


def _add(client: Any, dimension: str, group: str, delta: int, shard: int = 3) -> None:
    IndexStore("tasks", client=client).add_counters({(dimension, group): delta}, shard)


def test_counters_that_agree_with_the_index_are_left_alone(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    for number in range(1, 4):
        inventory.apply(snapshot(task(number), second=number))
    result = _reconciler(dynamodb).run()
    assert result.drift == 0 and result.repaired == {}
    assert inventory.query.summary("cluster")["groups"] == [{"group": CLUSTER, "running": 3}]


def test_drift_is_repaired_and_counted(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    for number in range(1, 4):
        inventory.apply(snapshot(task(number), second=number))
    # A crash between a counter update and its marker: the batch's deltas landed twice.
    _add(dynamodb, "cluster", CLUSTER, +2)
    _add(dynamodb, "status", "RUNNING", +2, shard=5)
    _add(dynamodb, "image", "ghost:1", -1)
    result = _reconciler(dynamodb).run()
    assert result.repaired == {("cluster", CLUSTER): -2, ("status", "RUNNING"): -2, ("image", "ghost:1"): 1}
    assert result.drift == 5
    assert inventory.query.summary("cluster")["total"] == 3
    assert inventory.query.summary("status")["groups"] == [{"group": "RUNNING", "running": 3}]
    assert _reconciler(dynamodb).run().drift == 0  # and it stays repaired


def test_a_counter_that_moves_between_the_passes_is_left_for_next_time(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    inventory.apply(snapshot(task(1), second=1))
    _add(dynamodb, "cluster", CLUSTER, +1)

    def the_indexer_moves_it(_: float) -> None:  # a live batch lands while the reconciler waits
        _add(dynamodb, "cluster", CLUSTER, +1, shard=keys.COUNTER_SHARDS - 1)

    result = _reconciler(dynamodb, on_pause=the_indexer_moves_it).run()
    assert ("cluster", CLUSTER) not in result.repaired and result.unsettled >= 1
