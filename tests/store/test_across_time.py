"""Questions across time: which tasks were running at a moment, or at any moment of a window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.model import Task
from tests.store.builders import T0, event, snapshot, task
from tests.store.inventory import Inventory

H = timedelta(hours=1)


def _ran(number: int, start: datetime, stop: datetime | None, cluster: str = "prod") -> list[Any]:
    """A task's reports: its start, and its stop event if it stopped."""
    running = task(number, cluster=cluster).model_copy(update={"started_at": start})
    plays = [(snapshot(running, second=int((start - T0).total_seconds())), start)]
    if stop is not None:
        stopped: Task = running.model_copy(update={"last_status": "STOPPED", "stopped_at": stop})
        plays.append((event(stopped, version=9, second=int((stop - T0).total_seconds())), stop))
    return plays


def _ids(page: Any) -> set[str]:
    return {item["taskId"] for item in page.items}


def _all(inventory: Inventory, **window: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = inventory.query.list_tasks({}, since=None, limit=2, cursor=cursor, **window)
        seen += [item["taskId"] for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


@pytest.fixture
def fleet(dynamodb: Any) -> Inventory:
    inventory = Inventory(dynamodb)
    plays = [
        *_ran(1, T0 - H, T0 + H),  # 08:00-10:00
        *_ran(2, T0 + 0.5 * H, None),  # 09:30-
        *_ran(3, T0 + 2 * H, None, cluster="dev"),  # 11:00-
        *_ran(4, T0 - 72 * H, T0 - 30 * H),  # three days ago until yesterday
    ]
    for observation, at in sorted(plays, key=lambda play: play[1]):
        inventory.apply(observation, now=at)
    return inventory


def _id(number: int) -> str:
    return f"{number:032x}"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (T0, {1}),
        (T0 + 0.75 * H, {1, 2}),
        (T0 + 1.5 * H, {2}),
        (T0 + 3 * H, {2, 3}),
        (T0 - 48 * H, {4}),
        (T0 - 100 * H, set()),
    ],
)
def test_active_at_returns_what_was_running_then(fleet: Inventory, at: datetime, expected: set[int]) -> None:
    page = fleet.query.list_tasks({}, since=None, limit=50, cursor=None, active_at=at)
    assert _ids(page) == {_id(n) for n in expected}


def test_a_window_finds_every_task_running_at_any_moment_of_it_once(fleet: Inventory) -> None:
    window = {"active_from": T0 - 60 * H, "active_to": T0 + 0.9 * H}
    found = _all(fleet, **window)
    assert sorted(found) == sorted(_id(n) for n in (1, 2, 4))  # task 4 spans three days: listed once


def test_time_questions_combine_with_filters(fleet: Inventory) -> None:
    page = fleet.query.list_tasks({"cluster": "dev"}, since=None, limit=50, cursor=None, active_at=T0 + 3 * H)
    assert _ids(page) == {_id(3)}


def test_conflicting_or_oversized_windows_are_refused_naming_the_parameter(fleet: Inventory) -> None:
    with pytest.raises(InvalidInput) as both:
        fleet.query.list_tasks({}, since=None, limit=5, cursor=None, active_at=T0, active_from=T0)
    assert both.value.field == "activeAt"
    with pytest.raises(InvalidInput) as half:
        fleet.query.list_tasks({}, since=None, limit=5, cursor=None, active_from=T0)
    assert half.value.field == "activeTo"
    with pytest.raises(InvalidInput) as backwards:
        fleet.query.list_tasks({}, since=None, limit=5, cursor=None, active_from=T0, active_to=T0 - H)
    assert backwards.value.field == "activeTo"
    with pytest.raises(InvalidInput):
        fleet.query.list_tasks({}, since=None, limit=5, cursor=None, active_from=T0, active_to=T0 + 200 * H)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    spans=st.lists(
        st.tuples(st.integers(-100, 20), st.one_of(st.none(), st.integers(1, 60))), min_size=1, max_size=8
    ),
    moment=st.integers(-100, 80),
)
def test_active_at_agrees_with_the_spans_as_a_property(dynamodb: Any, spans: list[Any], moment: int) -> None:
    import uuid

    from core.store.schema import create_table_request

    table = f"time-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(**create_table_request(table))
    inventory = Inventory(dynamodb, table)
    plays = []
    for number, (start, length) in enumerate(spans, start=1):
        plays += _ran(number, T0 + start * H, None if length is None else T0 + (start + length) * H)
    for observation, at in sorted(plays, key=lambda play: play[1]):
        inventory.apply(observation, now=at)
    at = T0 + moment * H
    expected = {
        _id(n)
        for n, (start, length) in enumerate(spans, start=1)
        if start <= moment and (length is None or moment <= start + length)
    }
    assert set(_all(inventory, active_at=at)) == expected
