"""GET /tasks?activeAt= and ?activeFrom=&activeTo= through local mode's real gateway."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture
from tests.http.localapi import send

# Recent times: a task stopped in 2020 would have expired long ago (30 days' retention).
START = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def _at(hours: float, offset: int = 0) -> str:
    zone = timezone(timedelta(hours=offset))
    return (START + timedelta(hours=hours)).astimezone(zone).isoformat()


def _event(cluster: str, task_id: str, *, status: str, version: int, stopped_at: str | None = None) -> bytes:
    event = fixture("eventbridge-task-state-change-fargate-running.json")
    detail = event["detail"]
    detail["startedAt"] = _at(0)
    detail["clusterArn"] = detail["clusterArn"].rsplit("/", 1)[0] + f"/{cluster}"
    detail["taskArn"] = detail["taskArn"].rsplit("/", 2)[0] + f"/{cluster}/{task_id}"
    detail.update(lastStatus=status, desiredStatus=status, version=version)
    if stopped_at:
        detail["stoppedAt"] = stopped_at
    return json.dumps(event).encode()


@pytest.fixture(scope="module")
def cluster(local: LocalSystem, operator: dict) -> dict[str, str]:
    """One task started at START and stopped an hour later; one started then, still running."""
    name = f"t{uuid.uuid4().hex[:8]}"
    stopped, running = uuid.uuid4().hex, uuid.uuid4().hex
    for body in (
        _event(name, stopped, status="RUNNING", version=2),
        _event(name, stopped, status="STOPPED", version=5, stopped_at=_at(1)),
        _event(name, running, status="RUNNING", version=2),
    ):
        assert send(local.url, "POST", "/_local/events", credentials=operator, body=body).status == 200
    return {"name": name, "stopped": stopped, "running": running}


def _ids(local: LocalSystem, operator: dict, cluster: str, **times: str) -> set[str]:
    query = urllib.parse.urlencode({"cluster": cluster, **times})
    reply = send(local.url, "GET", f"/tasks?{query}", credentials=operator)
    assert reply.status == 200, reply.body
    return {item["taskId"] for item in reply.body["items"]}


def test_active_at_in_any_utc_offset(local: LocalSystem, operator: dict, cluster: dict) -> None:
    both = {cluster["stopped"], cluster["running"]}
    for offset in (0, -5, 5, 14, -12):  # one instant, written in any offset, means the same
        assert _ids(local, operator, cluster["name"], activeAt=_at(0.5, offset)) == both
        assert (
            _ids(local, operator, cluster["name"], activeAt=_at(1, offset)) == both
        )  # the moment it stopped
        assert _ids(local, operator, cluster["name"], activeAt=_at(1.5, offset)) == {cluster["running"]}
        assert _ids(local, operator, cluster["name"], activeAt=_at(-1, offset)) == set()


def test_a_window_lists_what_ran_during_it(local: LocalSystem, operator: dict, cluster: dict) -> None:
    window = {"activeFrom": _at(0.9), "activeTo": _at(20)}
    assert _ids(local, operator, cluster["name"], **window) == {cluster["stopped"], cluster["running"]}
    later = {"activeFrom": _at(2), "activeTo": _at(3)}
    assert _ids(local, operator, cluster["name"], **later) == {cluster["running"]}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("activeAt=2020-01-23T18:30:00", "activeAt"),  # no time zone
        ("activeAt=yesterday", "activeAt"),
        ("activeFrom=2020-01-23T18:00:00Z", "activeTo"),
        ("activeFrom=2020-01-23T18:00:00Z&activeTo=2020-02-23T18:00:00Z", "activeTo"),
        (
            "activeAt=2020-01-23T18:00:00Z&activeFrom=2020-01-23T18:00:00Z&activeTo=2020-01-23T19:00:00Z",
            "activeAt",
        ),
    ],
)
def test_bad_times_are_400_naming_the_parameter(
    local: LocalSystem, operator: dict, query: str, field: str
) -> None:
    reply = send(local.url, "GET", f"/tasks?{query}", credentials=operator)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field


def test_inputs_that_cannot_match_or_do_not_fit_a_key_are_4xx_never_5xx(
    local: LocalSystem, operator: dict
) -> None:
    from core.store import cursor as cursors

    later = urllib.parse.urlencode({"activeAt": _at(0), "since": _at(48)})
    empty = send(local.url, "GET", f"/tasks?{later}", credentials=operator)
    assert empty.status == 200 and empty.body["items"] == []  # since after the moment: nothing
    long_arn = urllib.parse.quote("arn:aws:ecs:us-east-1:123456789012:task/" + "€" * 700, safe="")
    assert send(local.url, "GET", f"/tasks/{long_arn}", credentials=operator).status == 400
    # Forged cursors with the right fingerprint (it is no secret) but positions DynamoDB would refuse.
    too_long = cursors.encode(["2" + "9" * 1500] * 8, {"list": {}, "since": None})
    since = "2026-01-01T00:00:00.000000Z"
    outside = cursors.encode(["2020-01-01T00:00:00.000000Z#x"] * 8, {"list": {}, "since": since})
    for forged, query in ((too_long, ""), (outside, "&since=2026-01-01T00:00:00Z")):
        reply = send(local.url, "GET", f"/tasks?cursor={forged}{query}", credentials=operator)
        assert reply.status == 400 and reply.body["error"]["field"] == "cursor", reply.body
