"""Random interleavings and duplicates of snapshots and events: the final record is the newest information.

Events carry EventBridge ``detail.version`` increasing along the lifecycle, as ECS sends them;
snapshots are ordered by (collectedAt, sequence). Whatever order they arrive in, and however often,
each task ends with the highest lifecycle status seen, the image of its newest snapshot (or newest
event if no agent reported), the stop reason, stop code, exit code and repository digest its
events carried (snapshots never erase them); nothing ever regresses, and replaying everything
again changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.logic.indexer import wanted
from core.logic.lifecycle import status_rank
from core.logic.merge import merge
from core.model import TaskRecord
from core.store.records import index_item, record_from_item
from tests.store.builders import event, snapshot, task
from tests.store.inventory import Inventory, all_items

STATUSES = ["PROVISIONING", "PENDING", "RUNNING", "STOPPING", "STOPPED"]
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@st.composite
def reports(draw: Any, task_numbers: tuple[int, ...] = (1, 2, 3, 4)) -> list[tuple[str, Any]]:
    observations: list[tuple[str, Any]] = []
    for number in task_numbers:
        # An agent never sends two different snapshots under one (collectedAt, sequence).
        agent_keys = st.tuples(st.integers(0, 50), st.integers(0, 3), st.sampled_from(["hook", "sidecar"]))
        for second, sequence, reporter in draw(st.lists(agent_keys, max_size=4, unique=True)):
            # Keepalives take the cheap path when they repeat the newest content, the full one otherwise.
            reason = draw(st.sampled_from([None, "start", "keepalive"]))
            status = STATUSES[min(2, second // 20)]  # an agent's view advances with time, as the task does
            image = f"img:{second}-{sequence}-{reporter}"
            observations.append(
                (
                    "snapshot",
                    snapshot(
                        task(number, status=status, image=image),
                        second=second,
                        sequence=sequence,
                        reporter=reporter,
                        reason=reason,
                    ),
                )
            )
        for rank in draw(st.lists(st.integers(0, 4), max_size=3, unique=True)):
            status = STATUSES[rank]
            stopped = status == "STOPPED"
            t = task(
                number,
                status=status,
                image=f"evt:{rank}",
                stopped_reason="Essential container exited" if stopped else None,
                exit_code=137 if stopped else None,
                digest=_digest(number) if rank >= 1 else None,  # known once the image is pulled
            )
            if stopped:
                t = t.model_copy(update={"stop_code": "EssentialContainerExited"})
            observations.append(("event", event(t, version=rank + 1, second=rank * 10)))
    # Redeliveries (EventBridge is at-least-once, agents retry) land anywhere in the order.
    duplicates = draw(st.lists(st.sampled_from(observations), max_size=4)) if observations else []
    return draw(st.permutations([*observations, *duplicates]))


def _digest(number: int) -> str:
    return f"sha256:{number:064x}"


def _expected(observations: list[Any], number: int) -> dict[str, Any]:
    mine = [o for o in observations if o.task.task_id == f"{number:032x}"]
    snaps = [o for o in mine if o.source != "event"]
    events = [o for o in mine if o.source == "event"]
    newest_snapshot = max(snaps, key=lambda o: (o.observed_at, o.sequence, o.reporter), default=None)
    newest_event = max(events, key=lambda o: o.event_version, default=None)
    image_source = newest_snapshot or newest_event
    return {
        "status": max((o.task.last_status for o in mine), key=status_rank),
        "image": image_source.task.containers[0].image if image_source else None,
        "stoppedReason": next((o.task.stopped_reason for o in events if o.task.stopped_reason), None),
        "stopCode": next((o.task.stop_code for o in events if o.task.stop_code), None),
        "exitCode": next((o.task.containers[0].exit_code for o in events if o.task.stop_code), None),
        "imageDigest": next((_digest(number) for o in events if o.task.containers[0].image_digest), None),
    }


@settings(max_examples=300, deadline=None, derandomize=True)
@given(reports())
def test_merge_converges_to_newest_information(plays: list[tuple[str, Any]]) -> None:
    records: dict[str, TaskRecord] = {}
    for _, observation in plays:
        task_id = observation.task.task_id
        before = records.get(task_id)
        after = merge(before, observation, now=NOW, history_limit=50)
        if after is None:
            continue
        if before is not None:  # never a regression
            assert status_rank(after.task.last_status) >= status_rank(before.task.last_status)
            for name in ("stopped_reason", "stop_code"):
                if getattr(before.task, name):
                    assert getattr(after.task, name) == getattr(before.task, name)
            was, now = before.task.containers[0], after.task.containers[0]
            for name in ("exit_code", "image_digest", "image"):
                if getattr(was, name) is not None:
                    assert getattr(now, name) is not None
            assert after.task.last_seen_at >= before.task.last_seen_at
        records[task_id] = after
    observations = [o for _, o in plays]
    for number in (1, 2, 3, 4):
        record = records.get(f"{number:032x}")
        if record is None:
            assert not any(o.task.task_id == f"{number:032x}" for o in observations)
            continue
        expected = _expected(observations, number)
        assert record.task.last_status == expected["status"]
        assert record.task.containers[0].image == expected["image"]
        assert record.task.stopped_reason == expected["stoppedReason"]
        assert record.task.stop_code == expected["stopCode"]
        assert record.task.containers[0].exit_code == expected["exitCode"]
        assert record.task.containers[0].image_digest == expected["imageDigest"]
    # Duplicates change nothing: replaying everything once more leaves every record as it is.
    for _, observation in plays:
        assert merge(records[observation.task.task_id], observation, now=NOW, history_limit=50) is None


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(reports(task_numbers=(1, 2)), st.booleans())
def test_store_index_and_summary_agree_with_records(
    dynamodb: Any, plays: list[tuple[str, Any]], settle_each: bool
) -> None:
    # A fresh table per example: moto's mock persists across hypothesis examples.
    table = f"t-{uuid.uuid4().hex[:12]}"
    from core.store.schema import create_table_request

    dynamodb.create_table(**create_table_request(table))
    inventory = Inventory(dynamodb, table, history_limit=50, keepalive_seconds=10**6)
    query = inventory.query
    for _, observation in plays:
        inventory.recorder.apply(observation, now=NOW)
        if settle_each:  # the indexer sees every write alone, or many of one task in one batch
            inventory.settle()
    inventory.settle()
    observations = [o for _, o in plays]
    running = set()
    for number in (1, 2):
        if not any(o.task.task_id == f"{number:032x}" for o in observations):
            continue
        expected = _expected(observations, number)
        shown = query.get_task(f"{number:032x}", now=NOW)
        assert shown["lastStatus"] == expected["status"]
        assert shown["containers"][0]["image"] == expected["image"]
        assert shown["stoppedReason"] == expected["stoppedReason"]
        assert shown["stopCode"] == expected["stopCode"]
        assert shown["containers"][0]["exitCode"] == expected["exitCode"]
        assert shown["containers"][0]["imageDigest"] == expected["imageDigest"]
        if expected["status"] == "RUNNING":
            running.add(f"{number:032x}")
    listed = query.list_tasks({"status": "RUNNING"}, since=None, limit=10, cursor=None).items
    assert {item["taskId"] for item in listed} == running
    assert query.summary("cluster")["total"] == len(running)
    # Every task's entries are exactly those its stored record wants.
    items = all_items(dynamodb, table)
    for item in items:
        if item["sk"]["S"] != "TASK":
            continue
        identity = item["pk"]["S"].removeprefix("TASK#")
        want = {
            (e.partition, e.sort): index_item(e) for e in wanted(record_from_item(item), identity).values()
        }
        stored = {(i["pk"]["S"], i["sk"]["S"]): i for i in items if i.get("ref", {}).get("S") == identity}
        assert stored == want
