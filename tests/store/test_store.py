"""The store against moto: newer wins, the index following the records, paging, search and summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.errors import InvalidCursor, InvalidInput, NotFound
from core.logic.query import QueryService
from core.model import task_identity
from tests.store.builders import T0, event, snapshot, task
from tests.store.inventory import Inventory, all_items


def _services(client: Any) -> tuple[Inventory, QueryService]:
    inventory = Inventory(client)
    return inventory, inventory.query


def _all_items(client: Any) -> list[dict[str, Any]]:
    return all_items(client)


def test_repeated_snapshot_writes_nothing(dynamodb: Any) -> None:
    store, _ = _services(dynamodb)
    first = store.apply(snapshot(task(1), second=1))
    before = _all_items(dynamodb)
    again = store.apply(snapshot(task(1), second=1))
    assert first.changed and first.write_items == 1 and first.kind == "record"  # the record alone
    assert not again.changed and again.write_items == 0
    assert _all_items(dynamodb) == before


def test_status_never_moves_backwards(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, status="STOPPED"), second=5))
    store.apply(
        snapshot(task(1, status="RUNNING"), second=9)
    )  # newer, but RUNNING is earlier in the lifecycle
    assert query.get_task(f"{1:032x}")["lastStatus"] == "STOPPED"


def test_event_adds_stop_facts_and_snapshot_never_erases_them(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, image="app:1"), second=1))
    stopped = task(
        1, status="STOPPED", image="app:1", digest="sha256:" + "a" * 64, exit_code=137, stopped_reason="OOM"
    )
    store.apply(event(stopped, version=4, second=2))
    store.apply(snapshot(task(1, status="RUNNING", image="app:1"), second=3))
    shown = query.get_task(f"{1:032x}")
    assert shown["stoppedReason"] == "OOM"
    assert shown["lastStatus"] == "STOPPED"
    assert shown["containers"][0]["exitCode"] == 137
    assert shown["containers"][0]["imageDigest"] == "sha256:" + "a" * 64


def test_event_before_any_snapshot_creates_the_task_and_old_event_is_ignored(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    assert store.apply(event(task(2, status="PENDING"), version=2)).changed
    assert not store.apply(event(task(2, status="PROVISIONING"), version=1)).changed
    assert query.get_task(f"{2:032x}")["lastStatus"] == "PENDING"


def test_events_never_erase_what_agents_reported(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(3, labels={"team": "payments"}), second=1))
    store.apply(event(task(3, labels={}, ip=None), version=3, second=5))
    shown = query.get_task(f"{3:032x}")
    assert shown["containers"][0]["labels"] == {"team": "payments"}
    assert shown["containers"][0]["networks"][0]["ipv4Addresses"] == ["10.0.0.5"]


def test_a_stop_leaves_the_running_answers_and_expires_with_its_entries(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    for number in range(1, 4):
        store.apply(snapshot(task(number), second=1))
    assert query.summary("cluster")["groups"] == [
        {"group": "arn:aws:ecs:us-east-1:111122223333:cluster/prod", "running": 3}
    ]
    store.apply(snapshot(task(2, status="STOPPED"), second=2))
    assert query.summary("cluster")["total"] == 2
    assert query.summary("status")["groups"] == [{"group": "RUNNING", "running": 2}]
    running = query.list_tasks({"status": "RUNNING"}, since=None, limit=10, cursor=None)
    assert sorted(item["taskId"] for item in running.items) == [f"{1:032x}", f"{3:032x}"]
    stopped = query.list_tasks({"status": "STOPPED"}, since=None, limit=10, cursor=None)
    assert [item["taskId"] for item in stopped.items] == [f"{2:032x}"]
    # A stopped task gets its expiry on the record; every index entry expires with the task's lease,
    # never after the record.
    identity = task_identity(task(2))
    items = _all_items(dynamodb)
    (record,) = [i for i in items if i["pk"]["S"] == f"TASK#{identity}" and i["sk"]["S"] == "TASK"]
    entries = [i for i in items if i.get("ref", {}).get("S") == identity]
    assert len(entries) > 5 and {i["expiresAt"]["N"] for i in entries} == {record["lease"]["N"]}
    assert int(record["expiresAt"]["N"]) >= int(record["lease"]["N"])


def test_pages_follow_cursors_and_reject_foreign_ones(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    for number in range(1, 8):
        store.apply(snapshot(task(number, cluster="prod" if number % 2 else "dev"), second=number))
    seen: list[str] = []
    cursor = None
    while True:
        page = query.list_tasks({}, since=None, limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += [item["taskId"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"{n:032x}" for n in range(1, 8)]
    first = query.list_tasks({"cluster": "prod"}, since=None, limit=2, cursor=None)
    assert first.next_cursor is not None
    with pytest.raises(InvalidCursor):
        query.list_tasks({"cluster": "dev"}, since=None, limit=2, cursor=first.next_cursor)
    with pytest.raises(InvalidCursor):
        query.list_tasks({}, since=None, limit=2, cursor="not-a-cursor")


def test_search_by_ip_answers_who_held_it_at_a_time(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, ip="10.1.2.3"), second=1), now=T0)
    old = task(1, ip="10.1.2.3", status="STOPPED").model_copy(update={"stopped_at": T0 + timedelta(hours=1)})
    store.apply(event(old, version=9, second=3600), now=T0)
    store.apply(snapshot(task(2, ip="10.1.2.3"), second=7200), now=T0 + timedelta(hours=2))
    everyone = query.search("ip", "10.1.2.3", status=None, at=None, limit=10, cursor=None).items
    assert [item["task"]["taskId"] for item in everyone] == [f"{2:032x}", f"{1:032x}"]
    at_half_past = query.search(
        "ip", "10.1.2.3", status=None, at=T0 + timedelta(minutes=30), limit=10, cursor=None
    ).items
    assert [item["task"]["taskId"] for item in at_half_past] == [f"{1:032x}"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [("image", "nginx:1.27"), ("label", "team=payments"), ("tag", "env=prod"), ("containerName", "app")],
)
def test_search_kinds_find_the_task(dynamodb: Any, kind: str, value: str) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, labels={"team": "payments"}, tags={"env": "prod"}), second=1))
    store.apply(snapshot(task(2, image="redis:7", labels={"team": "core"}, tags={"env": "dev"}), second=1))
    found = query.search(kind, value, status=None, at=None, limit=10, cursor=None).items
    assert f"{1:032x}" in [item["taskId"] for item in found]
    if kind != "containerName":
        assert [item["taskId"] for item in found] == [f"{1:032x}"]


def test_history_is_bounded_and_newest_first(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    for second, ip in enumerate(
        ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"]
    ):
        store.apply(snapshot(task(1, ip=ip), second=second))
    history = query.history(f"{1:032x}", limit=10, cursor=None).items
    assert len(history) == 5  # history_limit
    assert history[0]["changes"]["ips"]["to"] == ["10.0.0.7"]


def test_unknown_task_and_bad_reference(dynamodb: Any) -> None:
    _, query = _services(dynamodb)
    with pytest.raises(NotFound):
        query.get_task("0" * 32)
    with pytest.raises(InvalidInput):
        query.get_task("../../etc")


def test_keepalive_moves_only_the_small_item_and_a_lost_race_is_retried(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1), second=1))
    record_before = [i for i in _all_items(dynamodb) if i["sk"]["S"] == "TASK"]
    # The first keepalive creates the small item (one read, one item), later ones move it (no read).
    first = store.apply(snapshot(task(1), second=450, sequence=1, reason="keepalive"))
    assert first.changed and first.kind == "seen" and first.write_items == 1
    keepalive = store.apply(snapshot(task(1), second=900, sequence=2, reason="keepalive"))
    assert keepalive.changed and keepalive.kind == "touch" and keepalive.reads == 0
    assert keepalive.write_items == 1
    assert [i for i in _all_items(dynamodb) if i["sk"]["S"] == "TASK"] == record_before
    assert query.get_task(f"{1:032x}")["lastSeenAt"].startswith("2026-11-28T09:15:00")

    # Another writer lands between our read and our write: the conditional write fails, we re-read and merge.
    writer = store.recorder.store
    original_load = writer.load
    calls = {"n": 0}

    def racing_load(identity: str):
        state = original_load(identity)
        if calls["n"] == 0:
            calls["n"] += 1
            Inventory(dynamodb).recorder.apply(snapshot(task(1, status="STOPPED"), second=950))
        return state

    writer.load = racing_load  # type: ignore[method-assign]
    outcome = store.apply(snapshot(task(1, image="nginx:1.28"), second=960))
    assert outcome.changed and outcome.reads == 2
    shown = query.get_task(f"{1:032x}")
    assert shown["lastStatus"] == "STOPPED"  # the racing writer's stop survived
    assert shown["containers"][0]["image"] == "nginx:1.28"  # and our newer snapshot landed on top


def test_a_source_without_tags_keeps_the_tags_another_agent_read(dynamodb: Any) -> None:
    """A hook without --with-tags and a sidecar with it, in one task: tags stay and stay searchable."""
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, tags={"team": "data"}), second=1, reporter="sidecar"))
    store.apply(snapshot(task(1, image="app:2"), second=2, reporter="hook"))  # /task: no TaskTags
    shown = query.get_task(f"{1:032x}", now=T0)
    assert shown["tags"] == {"team": "data"} and shown["containers"][0]["image"] == "app:2"
    hits = query.search("tag", "team=data", status=None, at=None, limit=10, cursor=None).items
    assert [hit["taskId"] for hit in hits] == [f"{1:032x}"]


def test_every_task_id_ingest_accepts_is_readable_by_id_and_arn(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    t = task(1)
    odd = t.model_copy(update={"task_id": "web_1-a", "task_arn": t.task_arn.rsplit("/", 1)[0] + "/web_1-a"})
    store.apply(snapshot(odd, second=1))
    assert query.get_task("web_1-a")["taskId"] == "web_1-a"
    assert query.get_task(odd.task_arn)["taskArn"] == odd.task_arn


def test_a_task_with_more_values_than_the_index_takes_says_so(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, labels={f"k{n:02d}": "v" for n in range(60)}), second=1))
    store.apply(snapshot(task(2), second=1))
    assert query.get_task(f"{1:032x}")["indexTruncated"] is True
    assert query.get_task(f"{2:032x}")["indexTruncated"] is False


def test_order_keys_sort_as_time_and_sequence_at_any_width(dynamodb: Any) -> None:
    """An ancient collectedAt (year < 1000) or a sequence past 12 digits never wins by text order."""
    from core.logic.merge import snapshot_order_key

    old, new = snapshot(task(1), second=0), snapshot(task(1), second=0)
    ancient = old.model_copy(update={"observed_at": old.observed_at.replace(year=999)})
    assert snapshot_order_key(ancient) < snapshot_order_key(new)
    small = new.model_copy(update={"sequence": 999_999_999_999})
    big = new.model_copy(update={"sequence": 1_000_000_000_000})
    assert snapshot_order_key(small) < snapshot_order_key(big)
