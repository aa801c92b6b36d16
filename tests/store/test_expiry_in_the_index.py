"""When TTL removes a stopped task's record, its index entries go by TTL too (free), not by writes."""

from __future__ import annotations

from typing import Any

from core.model import task_identity
from core.store import keys
from tests.store.builders import event, snapshot, task
from tests.store.inventory import Inventory, all_items


def _stop(inventory: Inventory, number: int) -> str:
    inventory.apply(snapshot(task(number), second=1))
    stopped = task(number, status="STOPPED", stopped_reason="done", exit_code=0)
    inventory.apply(event(stopped, version=5, second=60))
    return task_identity(stopped)


def _expire(client: Any, identity: str) -> None:
    """What DynamoDB's TTL does to the record: a delete (a REMOVE on the stream)."""
    client.delete_item(TableName="tasks", Key=keys.record_key(identity))


def test_ttl_removal_deletes_marker_and_keepalive_item_and_leaves_expiring_entries_to_ttl(
    dynamodb: Any,
) -> None:
    inventory = Inventory(dynamodb)
    identity = _stop(inventory, 1)
    entries = [i for i in all_items(dynamodb) if i.get("ref", {}).get("S") == identity]
    assert entries and all("expiresAt" in i for i in entries)  # every entry expires with the task
    writes: list[str] = []
    original = dynamodb.batch_write_item

    def counting(**request: Any) -> Any:
        writes.extend(next(iter(r)) for r in request["RequestItems"]["tasks"])
        return original(**request)

    dynamodb.batch_write_item = counting
    _expire(dynamodb, identity)
    inventory.settle()
    left = [i for i in all_items(dynamodb) if i["pk"]["S"] == keys.task_partition(identity)]
    assert left == []  # marker and keepalive item gone
    assert writes == ["DeleteRequest", "DeleteRequest"]  # those two, and no entry
    assert [i for i in all_items(dynamodb) if i.get("ref", {}).get("S") == identity] == entries
    assert inventory.query.summary("status")["total"] == 0


def test_a_marker_that_lagged_behind_the_removed_record_still_cleans_up(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    inventory.apply(snapshot(task(2), second=1))
    identity = task_identity(task(2))
    inventory.recorder.apply(event(task(2, status="STOPPED"), version=5, second=60))  # not yet indexed
    dynamodb.delete_item(TableName="tasks", Key=keys.record_key(identity))
    inventory.settle()  # the stop and the removal arrive in one batch: the marker never saw the stop
    assert [i for i in all_items(dynamodb) if i.get("ref", {}).get("S") == identity] == []
    assert inventory.query.summary("status")["total"] == 0


def test_a_task_written_again_after_its_record_expired_is_indexed_anew(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    identity = _stop(inventory, 3)
    _expire(dynamodb, identity)
    # A late report after retention: the record is created again (revision 1) in the same batch.
    inventory.recorder.apply(snapshot(task(3, image="late:1"), second=7200))
    inventory.settle()
    hits = inventory.query.search("image", "late:1", status=None, at=None, limit=5, cursor=None).items
    assert [hit["taskId"] for hit in hits] == [f"{3:032x}"]
    assert inventory.query.summary("status")["groups"] == [{"group": "RUNNING", "running": 1}]
