"""The reconciler renews the lease of a running task that is due, the indexer carries the new lease
to every entry, and tasks whose lease is not due (or that stopped) are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.logic.lease import first_lease, renewed_lease
from core.logic.reconcile import Reconciler
from core.model import task_identity
from core.store.index import IndexStore
from core.store.tasks import TaskStore
from tests.store.builders import T0, snapshot, task
from tests.store.inventory import Inventory, all_items

RETENTION = 30


def _reconciler(client: Any, now: datetime) -> Reconciler:
    return Reconciler(
        TaskStore("tasks", client=client),
        IndexStore("tasks", client=client),
        retention_days=RETENTION,
        clock=lambda: now,
    )


def _leases(client: Any, number: int) -> tuple[int | None, set[int | None]]:
    """The record's lease and the expiries of its index entries."""
    identity = task_identity(task(number))
    record: int | None = None
    entries: set[int | None] = set()
    for item in all_items(client):
        if item["pk"]["S"] == f"TASK#{identity}" and item["sk"]["S"] == "TASK":
            record = int(item["lease"]["N"])
        elif item["pk"]["S"].startswith("IX#") and item.get("ref", {}).get("S") == identity:
            entries.add(int(item["expiresAt"]["N"]) if "expiresAt" in item else None)
    return record, entries


def test_a_due_lease_is_renewed_and_every_entry_follows_it(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb, retention_days=RETENTION)
    inventory.apply(snapshot(task(1), second=1), now=T0)
    first = first_lease(T0, RETENTION)
    assert _leases(dynamodb, 1) == (first, {first})  # every entry is written with the task's lease

    now = T0 + timedelta(days=12)  # the first lease ends within the margin of what a stop needs
    result = _reconciler(dynamodb, now).run()
    assert (result.renewed, result.changed) == (1, 0)
    inventory.settle()
    renewed = renewed_lease(now, RETENTION)
    assert _leases(dynamodb, 1) == (renewed, {renewed})
    assert inventory.query.summary("cluster")["total"] == 1  # the task is still shown

    again = _reconciler(dynamodb, now).run()  # nothing due any more
    assert again.renewed == 0 and again.changed == 0


def test_leases_that_are_not_due_and_stopped_tasks_are_left_alone(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb, retention_days=RETENTION)
    inventory.apply(snapshot(task(1), second=1), now=T0)  # started recently: its first lease holds
    inventory.apply(snapshot(task(2), second=2), now=T0)
    inventory.apply(snapshot(task(2, status="STOPPED", exit_code=0), second=3), now=T0)
    before = {number: _leases(dynamodb, number) for number in (1, 2)}

    result = _reconciler(dynamodb, T0 + timedelta(days=2)).run()
    assert result.renewed == 0 and result.changed == 0
    inventory.settle()
    result = _reconciler(dynamodb, T0 + timedelta(days=12)).run()  # task 1 is due, task 2 stopped
    assert result.renewed == 1
    inventory.settle()
    assert _leases(dynamodb, 2) == before[2]
    assert _leases(dynamodb, 1) != before[1]


def test_a_lease_that_moved_meanwhile_is_not_renewed_twice(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb, retention_days=RETENTION)
    inventory.apply(snapshot(task(1), second=1), now=T0)
    now = T0 + timedelta(days=12)
    assert _reconciler(dynamodb, now).run().renewed == 1
    # Before the indexer catches up, the entries still carry the old lease: the record's condition
    # fails, and the change already made carries the lease on.
    result = _reconciler(dynamodb, now + timedelta(hours=6)).run()
    assert (result.renewed, result.changed) == (0, 1)
    inventory.settle()
    renewed = renewed_lease(now, RETENTION)
    assert _leases(dynamodb, 1) == (renewed, {renewed})
