"""Retention (TTL), the bounded change history, the ``stale`` flag and the item-size bounds, on moto."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import NotFound, PayloadTooLarge, Throttled
from core.logic.lease import first_lease
from core.logic.query import QueryService
from core.model import task_identity
from core.store import tasks as writer
from core.store.keys import record_key
from core.store.records import item_size
from core.store.tasks import MAX_RECORD_BYTES
from tests.store.builders import T0, event, snapshot, task
from tests.store.inventory import Inventory, all_items

DYNAMODB_ITEM_LIMIT = 400 * 1024
KEEPALIVE = 900


def _noise(seed: int, size: int) -> str:
    """Text that zlib cannot shrink much (the record is stored compressed)."""
    out, block = [], hashlib.sha256(str(seed).encode()).digest()
    while sum(map(len, out)) < size:
        block = hashlib.sha256(block).digest()
        out.append(base64.b64encode(block).decode())
    return "".join(out)[:size]


def _services(
    client: Any, *, retention_days: int = 30, history_limit: int = 50
) -> tuple[Inventory, QueryService]:
    inventory = Inventory(
        client, retention_days=retention_days, history_limit=history_limit, keepalive_seconds=KEEPALIVE
    )
    return inventory, inventory.query


def _record(client: Any, number: int) -> dict[str, Any] | None:
    return client.get_item(TableName="tasks", Key=record_key(task_identity(task(number)))).get("Item")


def _stopped(number: int, *, at_second: int, reason: str = "Essential container in task exited") -> Any:
    stopped = task(number, status="STOPPED", stopped_reason=reason, exit_code=1)
    return stopped.model_copy(
        update={"stopped_at": T0 + timedelta(seconds=at_second), "stop_code": "EssentialContainerExited"}
    )


# -- retention ----------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [30, 7])
def test_stopped_task_expires_retention_days_after_it_stopped(dynamodb: Any, days: int) -> None:
    store, query = _services(dynamodb, retention_days=days)
    store.apply(snapshot(task(1), second=1), now=T0)
    assert "expiresAt" not in (_record(dynamodb, 1) or {})  # running tasks never expire

    store.apply(event(_stopped(1, at_second=60), version=5, second=60), now=T0)
    record = _record(dynamodb, 1) or {}
    expires = int(record["expiresAt"]["N"])
    # kept the retention after the stop, and as long as its entries (the lease of its first write)
    kept = int((T0 + timedelta(seconds=60) + timedelta(days=days)).timestamp())
    assert expires == max(kept, first_lease(T0, days)) == int(record["lease"]["N"])
    entries = [i for i in all_items(dynamodb) if i.get("ref", {}).get("S") == task_identity(task(1))]
    assert entries and all(0 < int(i["expiresAt"]["N"]) <= expires for i in entries)  # none outlives it

    task_id = f"{1:032x}"
    at_retention = T0 + timedelta(days=days, seconds=59)
    assert query.get_task(task_id, now=at_retention)["lastStatus"] == "STOPPED"
    just_before = datetime.fromtimestamp(expires - 1, UTC)
    assert query.get_task(task_id, now=just_before)["lastStatus"] == "STOPPED"
    with pytest.raises(NotFound):  # TTL deletion lags: reads hide what has expired already
        query.get_task(task_id, now=datetime.fromtimestamp(expires, UTC))


# -- history ------------------------------------------------------------------------------------


def test_history_records_status_ips_images_and_the_stop_reason(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1, status="PENDING", ip=None, image="app:1"), second=1))
    store.apply(snapshot(task(1, status="RUNNING", ip="10.0.0.9", image="app:1"), second=2))
    store.apply(snapshot(task(1, status="RUNNING", ip="10.0.0.9", image="app:1"), second=3))  # keepalive
    store.apply(event(_stopped(1, at_second=4, reason="OutOfMemoryError: killed"), version=7, second=4))

    history = query.history(f"{1:032x}", limit=10, cursor=None).items
    assert len(history) == 3  # the keepalive changed nothing worth remembering
    newest, middle, oldest = history
    assert newest["source"] == "event"
    assert newest["changes"]["stoppedReason"] == {"from": None, "to": "OutOfMemoryError: killed"}
    assert newest["changes"]["stopCode"] == {"from": None, "to": "EssentialContainerExited"}
    assert newest["changes"]["lastStatus"] == {"from": "RUNNING", "to": "STOPPED"}
    assert middle["changes"]["ips"] == {"from": [], "to": ["10.0.0.9"]}
    assert middle["changes"]["lastStatus"] == {"from": "PENDING", "to": "RUNNING"}
    assert oldest["changes"]["images"] == {"from": None, "to": ["app:1"]}


def test_history_page_walks_back_with_a_cursor(dynamodb: Any) -> None:
    store, query = _services(dynamodb, history_limit=4)
    for second in range(6):
        store.apply(snapshot(task(1, image=f"app:{second}"), second=second))
    first = query.history(f"{1:032x}", limit=3, cursor=None)
    second_page = query.history(f"{1:032x}", limit=3, cursor=first.next_cursor)
    images = [entry["changes"]["images"]["to"] for entry in [*first.items, *second_page.items]]
    assert images == [["app:5"], ["app:4"], ["app:3"], ["app:2"]]  # bounded to 4, newest first
    assert second_page.next_cursor is None


# -- stale --------------------------------------------------------------------------------------


def test_stale_after_two_keepalives_without_a_report_or_event(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1), second=0))
    task_id = f"{1:032x}"
    assert query.get_task(task_id, now=T0 + timedelta(seconds=2 * KEEPALIVE))["stale"] is False
    assert query.get_task(task_id, now=T0 + timedelta(seconds=2 * KEEPALIVE + 1))["stale"] is True

    # An event counts as a sign of life too.
    store.apply(event(task(1), version=3, second=1500))
    assert query.get_task(task_id, now=T0 + timedelta(seconds=2 * KEEPALIVE + 1))["stale"] is False
    assert query.get_task(task_id, now=T0 + timedelta(seconds=1500 + 2 * KEEPALIVE + 1))["stale"] is True


def test_stopped_task_is_never_stale(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    store.apply(snapshot(task(1), second=0))
    store.apply(event(_stopped(1, at_second=10), version=4, second=10))
    assert query.get_task(f"{1:032x}", now=T0 + timedelta(days=1))["stale"] is False


# -- item size ----------------------------------------------------------------------------------


def test_large_task_keeps_taking_updates_by_trimming_its_history(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task near the record limit with a long history still accepts its stop event."""
    assert MAX_RECORD_BYTES < DYNAMODB_ITEM_LIMIT * 0.8  # room for attribute overhead, always
    store, query = _services(dynamodb, history_limit=200)
    big_labels = {f"label-{n:03d}": _noise(n, 300) for n in range(135)}  # ~42 KB of labels
    store.apply(snapshot(task(1, labels=big_labels, image="app:0"), second=0))
    # The same rule at a fraction of the size: the record as it is now and a little history fit.
    limit = item_size(_record(dynamodb, 1) or {}) + 600
    monkeypatch.setattr(writer, "MAX_RECORD_BYTES", limit)
    for second in range(1, 60):
        store.apply(snapshot(task(1, labels=big_labels, image=f"app:{second}"), second=second))
    outcome = store.apply(event(_stopped(1, at_second=200), version=9, second=200))
    assert outcome.changed
    record = _record(dynamodb, 1) or {}
    assert item_size(record) <= limit
    history = query.history(f"{1:032x}", limit=200, cursor=None).items
    assert history[0]["changes"]["lastStatus"]["to"] == "STOPPED"  # the newest entries survive
    assert history[1]["changes"]["images"]["to"] == ["app:59"]
    assert 0 < len(history) < 61  # the oldest gave way


def test_record_over_the_limit_is_413_and_writes_nothing(dynamodb: Any) -> None:
    store, _ = _services(dynamodb)
    huge = {f"label-{n:04d}": _noise(n, 5_500) for n in range(80)}  # ~440 KB, ~330 KB compressed
    with pytest.raises(PayloadTooLarge):
        store.apply(snapshot(task(1, labels=huge), second=1))
    assert dynamodb.scan(TableName="tasks")["Items"] == []  # test-only inspection


def test_a_multi_task_report_is_checked_whole_before_anything_is_written(dynamodb: Any) -> None:
    store, _ = _services(dynamodb)
    fine = snapshot(task(1), second=1)
    huge = snapshot(task(2, labels={f"k{n}": _noise(n, 5_500) for n in range(80)}), second=1)
    with pytest.raises(PayloadTooLarge):
        store.apply_all([fine, huge])
    assert dynamodb.scan(TableName="tasks")["Items"] == []
    assert [o.changed for o in store.apply_all([fine, snapshot(task(2), second=1)])] == [True, True]


def test_history_records_container_health_changes(dynamodb: Any) -> None:
    store, query = _services(dynamodb)
    for second, health in enumerate(["UNKNOWN", "HEALTHY", "HEALTHY", "UNHEALTHY"]):
        t = task(1)
        t = t.model_copy(
            update={"containers": [t.containers[0].model_copy(update={"health_status": health})]}
        )
        store.apply(snapshot(t, second=second))
    history = query.history(f"{1:032x}", limit=10, cursor=None).items
    assert [entry["changes"].get("health", {}).get("to") for entry in history] == [
        ["app=UNHEALTHY"],
        ["app=HEALTHY"],
        ["app=UNKNOWN"],
    ]


def test_history_of_an_expired_task_is_gone_like_the_task(dynamodb: Any) -> None:
    store, query = _services(dynamodb, retention_days=7)
    store.apply(event(_stopped(1, at_second=10), version=4, second=10), now=T0)
    expires = int((_record(dynamodb, 1) or {})["expiresAt"]["N"])
    assert expires >= int((T0 + timedelta(days=7, seconds=10)).timestamp())  # at least the retention
    alive = T0 + timedelta(days=6)
    assert query.history(f"{1:032x}", limit=5, cursor=None, now=alive).items
    with pytest.raises(NotFound):
        query.history(f"{1:032x}", limit=5, cursor=None, now=datetime.fromtimestamp(expires, UTC))


class _ThrottleOnce:
    """The moto client, except that the ``fail_on``-th record write is pushed back once (as DynamoDB may)."""

    def __init__(self, client: Any, fail_on: int) -> None:
        self._client, self._fail_on, self.writes = client, fail_on, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **request: Any) -> Any:
        from botocore.exceptions import ClientError

        self.writes += 1
        if self.writes == self._fail_on:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return self._client.put_item(**request)


def test_a_multi_task_report_cut_short_by_pushback_converges_on_retry(dynamodb: Any) -> None:
    """Each task's write is atomic; a daemon's retry of the whole report merges written tasks to no-ops."""
    flaky = _ThrottleOnce(dynamodb, fail_on=2)
    store = Inventory(flaky, history_limit=50)
    report = [snapshot(task(n, ip=f"10.0.0.{n}"), second=1) for n in (1, 2, 3)]
    with pytest.raises(Throttled):
        store.apply_all(report)
    assert _record(dynamodb, 1) is not None  # the first task landed whole ...
    assert _record(dynamodb, 2) is None and _record(dynamodb, 3) is None  # ... the rest not at all
    outcomes = store.apply_all(report)  # the agent's retry
    assert [o.changed for o in outcomes] == [False, True, True]
    _, query = _services(dynamodb)
    ips = {
        query.get_task(f"{n:032x}", now=T0)["containers"][0]["networks"][0]["ipv4Addresses"][0]
        for n in (1, 2, 3)
    }
    assert ips == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
