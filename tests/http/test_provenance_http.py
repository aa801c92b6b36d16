"""Provenance and coverage through local mode's real gateway: a task claims an address, AWS's event
states another; search answers both, marked, `confirmed=true` only AWS's; `GET /coverage` counts
the task for both sources; and an address is found from the task's own start, not first sight."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskbeacon.local.system import LocalSystem
from tests.ecs_fixtures import FIXTURES
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot, send

ACCOUNT = "111122223333"
REGION = "us-west-2"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def claimed(local: LocalSystem, operator: dict) -> dict[str, Any]:
    """One awsvpc task: its agent claims 10.88.0.9 first; then ECS's RUNNING event says 10.88.0.5."""
    task_id = uuid.uuid4().hex
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prov/{task_id}"
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)  # long before first sight
    doc = fixture("v4-task-ec2-awsvpc.json")
    doc["TaskARN"], doc["Cluster"], doc["KnownStatus"] = arn, "prov", "RUNNING"
    for container in doc["Containers"]:
        for network in container.get("Networks", []):
            network["IPv4Addresses"] = ["10.88.0.9"]
    creds = task_credentials(local, operator, arn)
    reply = post_snapshot(local, creds, doc, collected_at=_stamp(datetime.now(UTC) - timedelta(minutes=1)))
    assert reply.status == 202, reply.body
    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    event["id"] = str(uuid.uuid4())
    detail = event["detail"]
    detail["taskArn"], detail["clusterArn"] = arn, f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prov"
    detail["startedAt"] = _stamp(started)
    detail["version"] = 4
    for container in detail["containers"]:
        container["taskArn"] = arn
        for nic in container.get("networkInterfaces", []):
            nic["privateIpv4Address"] = "10.88.0.5"
    body = json.dumps(event).encode()
    assert send(local.url, "POST", "/_local/events", credentials=operator, body=body).status == 200
    return {"arn": arn, "id": task_id, "started": started}


def test_the_task_shows_aws_address_and_keeps_its_claim_unconfirmed(
    local: LocalSystem, operator: dict, claimed: dict[str, Any]
) -> None:
    reply = send(local.url, "GET", f"/tasks/{claimed['id']}", credentials=operator)
    assert reply.status == 200, reply.body
    sources = reply.body["sources"]
    assert sources["status"] == ["agent", "event"]
    assert "10.88.0.5" in sources["confirmed"]["ips"]
    assert sources["unconfirmed"]["ips"] == ["10.88.0.9"]
    shown = {ip for c in reply.body["containers"] for n in c["networks"] for ip in n["ipv4Addresses"]}
    assert "10.88.0.5" in shown and "10.88.0.9" not in shown


def test_search_answers_both_marked_and_confirmed_only_aws(
    local: LocalSystem, operator: dict, claimed: dict[str, Any]
) -> None:
    for ip, stated in (("10.88.0.5", True), ("10.88.0.9", False)):
        reply = send(local.url, "GET", f"/search?ip={ip}", credentials=operator)
        assert reply.status == 200, reply.body
        (hit,) = [h for h in reply.body["items"] if h["task"]["taskId"] == claimed["id"]]
        assert hit["confirmed"] is stated
        only = send(local.url, "GET", f"/search?ip={ip}&confirmed=true", credentials=operator)
        assert only.status == 200
        assert [h["task"]["taskId"] for h in only.body["items"]] == ([claimed["id"]] if stated else [])


def test_confirmed_is_refused_where_aws_states_nothing(local: LocalSystem, operator: dict) -> None:
    reply = send(local.url, "GET", "/search?label=team%3Ddata&confirmed=true", credentials=operator)
    assert reply.status == 400 and reply.body["error"]["field"] == "confirmed"


def test_the_address_is_held_from_the_task_start(
    local: LocalSystem, operator: dict, claimed: dict[str, Any]
) -> None:
    """The task started two days before taskbeacon first saw it: it held the address 5 s later."""
    at = _stamp(claimed["started"] + timedelta(seconds=5))
    reply = send(local.url, "GET", f"/search?ip=10.88.0.5&at={at}", credentials=operator)
    assert reply.status == 200, reply.body
    assert [h["task"]["taskId"] for h in reply.body["items"]] == [claimed["id"]]
    before = _stamp(claimed["started"] - timedelta(seconds=5))
    assert (
        send(local.url, "GET", f"/search?ip=10.88.0.5&at={before}", credentials=operator).body["items"] == []
    )


def test_coverage_counts_the_task_for_each_source(
    local: LocalSystem, operator: dict, claimed: dict[str, Any]
) -> None:
    reply = send(local.url, "GET", "/coverage", credentials=operator)
    assert reply.status == 200, reply.body
    (row,) = [r for r in reply.body["items"] if (r["accountId"], r["region"]) == (ACCOUNT, REGION)]
    assert row["tasks"]["agent"] >= 1 and row["tasks"]["event"] >= 1
    assert set(row) >= {"lastSweptAt", "lastEventAt", "lastSweep"}
    # The RUNNING event's time, marked by the indexer (to 5 minutes).
    assert row["lastEventAt"] is not None


def test_tasks_may_not_read_coverage(local: LocalSystem, operator: dict, claimed: dict[str, Any]) -> None:
    creds = task_credentials(local, operator, claimed["arn"])
    assert send(local.url, "GET", "/coverage", credentials=creds).status == 403
