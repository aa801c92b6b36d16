"""Query routes and lifecycle events through local mode's real gateway."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot, send


@pytest.fixture(scope="module")
def cluster_tasks(local: LocalSystem, operator: dict) -> dict[str, dict]:
    """Three tasks in a cluster of this module's own, reported by their own task credentials."""
    cluster = f"q{uuid.uuid4().hex[:8]}"
    tasks: dict[str, dict] = {}
    for number in range(3):
        task = fixture("v4-task-ec2-awsvpc.json")
        task_id = uuid.uuid4().hex
        task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/{cluster}/{task_id}"
        task["Cluster"] = cluster
        task["KnownStatus"] = "RUNNING"
        for container in task["Containers"]:
            for network in container.get("Networks", []):
                network["IPv4Addresses"] = [f"10.77.0.{number + 10}"]
        creds = task_credentials(local, operator, task["TaskARN"])
        reply = post_snapshot(local, creds, task, collected_at=f"2026-11-28T09:0{number}:00Z")
        assert reply.status == 202, reply.body
        tasks[task_id] = task
    return {"cluster": cluster, "tasks": tasks}  # type: ignore[dict-item]


def test_list_by_cluster_short_name_pages_with_cursor(
    local: LocalSystem, operator: dict, cluster_tasks: dict
) -> None:
    cluster = cluster_tasks["cluster"]
    first = send(local.url, "GET", f"/tasks?cluster={cluster}&limit=2", credentials=operator)
    assert first.status == 200
    assert len(first.body["items"]) == 2 and first.body["nextCursor"]
    second = send(
        local.url,
        "GET",
        f"/tasks?cluster={cluster}&limit=2&cursor={first.body['nextCursor']}",
        credentials=operator,
    )
    ids = {item["taskId"] for item in first.body["items"] + second.body["items"]}
    assert ids == set(cluster_tasks["tasks"])


def test_show_by_url_encoded_arn(local: LocalSystem, operator: dict, cluster_tasks: dict) -> None:
    task_id, task = next(iter(cluster_tasks["tasks"].items()))
    encoded = urllib.parse.quote(task["TaskARN"], safe="")
    reply = send(local.url, "GET", f"/tasks/{encoded}", credentials=operator)
    assert reply.status == 200, reply.body
    assert reply.body["taskId"] == task_id
    assert (
        reply.body["clusterArn"] == f"arn:aws:ecs:us-east-1:111122223333:cluster/{cluster_tasks['cluster']}"
    )


def test_search_by_ip_and_summary(local: LocalSystem, operator: dict, cluster_tasks: dict) -> None:
    reply = send(local.url, "GET", "/search?ip=10.77.0.11", credentials=operator)
    assert reply.status == 200
    assert len(reply.body["items"]) == 1
    assert reply.body["items"][0]["task"]["containers"][0]["networks"][0]["ipv4Addresses"] == ["10.77.0.11"]
    summary = send(local.url, "GET", "/summary?by=cluster", credentials=operator)
    groups = {group["group"]: group["running"] for group in summary.body["groups"]}
    assert groups[f"arn:aws:ecs:us-east-1:111122223333:cluster/{cluster_tasks['cluster']}"] == 3


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tasks?limit=0", "limit"),
        ("/tasks?limit=abc", "limit"),
        ("/tasks?since=yesterday", "since"),
        ("/tasks?cursor=forged", "cursor"),
        ("/search", "query"),
        ("/search?ip=1.2.3.4&image=x", "query"),
        ("/search?label=novalue", "label"),
        ("/search?image=x&at=2026-11-28T09:00:00Z", "at"),
        ("/summary?by=colour", "by"),
        ("/summary", "by"),
        ("/tasks/not..an..id", "taskId"),
    ],
)
def test_bad_query_input_is_400_naming_the_field(
    local: LocalSystem, operator: dict, path: str, field: str
) -> None:
    reply = send(local.url, "GET", path, credentials=operator)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field


def test_unknown_task_is_404(local: LocalSystem, operator: dict) -> None:
    reply = send(local.url, "GET", f"/tasks/{uuid.uuid4().hex}", credentials=operator)
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_openapi_document_is_served(local: LocalSystem, operator: dict) -> None:
    reply = send(local.url, "GET", "/openapi.json", credentials=operator)
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.1")
    assert {"/snapshots", "/tasks", "/tasks/{taskId}", "/search", "/summary"} <= set(reply.body["paths"])


def test_event_played_locally_creates_then_stops_the_task(local: LocalSystem, operator: dict) -> None:
    event = fixture("eventbridge-task-state-change-fargate-running.json")
    task_id = uuid.uuid4().hex
    arn = event["detail"]["taskArn"]
    event["detail"]["taskArn"] = arn.rsplit("/", 1)[0] + "/" + task_id
    reply = send(local.url, "POST", "/_local/events", credentials=operator, body=json.dumps(event).encode())
    assert reply.status == 200, reply.body
    shown = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator)
    assert shown.status == 200
    assert shown.body["lastStatus"] == "RUNNING"
    stopped = json.loads(json.dumps(event))
    stopped["detail"].update(
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        stoppedReason="Scaling activity",
        stopCode="ServiceSchedulerInitiated",
    )
    stopped["detail"]["version"] = event["detail"]["version"] + 2
    # Recent, or the task would have expired (30 days' retention) by the day the test runs.
    stopped["detail"]["stoppedAt"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (
        send(
            local.url, "POST", "/_local/events", credentials=operator, body=json.dumps(stopped).encode()
        ).status
        == 200
    )
    after = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).body
    assert after["lastStatus"] == "STOPPED"
    assert after["stoppedReason"] == "Scaling activity"
    history = send(local.url, "GET", f"/tasks/{task_id}/history", credentials=operator).body["items"]
    assert history[0]["changes"]["lastStatus"] == {"from": "RUNNING", "to": "STOPPED"}


def test_malformed_event_is_rejected_without_writing(local: LocalSystem, operator: dict) -> None:
    reply = send(
        local.url,
        "POST",
        "/_local/events",
        credentials=operator,
        body=json.dumps({"detail-type": "x"}).encode(),
    )
    assert reply.status == 400
    assert reply.body["accepted"] is False


# -- what a task id can be: ECS's (32 hex, or the old 36-character UUID), as every source stores it --
ARN = "arn:aws:ecs:us-east-1:111122223333:task/{cluster}{task_id}"
CANNOT_BE_A_TASK_ID = {
    "65-characters": "a" * 65,
    "65-hex": "0123456789abcdef" * 4 + "0",
    "dot": "0123456789abcdef.0123456789abcdef",
    "space": urllib.parse.quote(" 0123456789abcdef0123456789abcdef"),
    "trailing-vt": "0123456789abcdef0123456789abcdef%0B",
    "nul": "0123456789abcdef%000123456789abcdef",
    "slash": urllib.parse.quote("c/0123456789abcdef0123456789abcdef", safe=""),
    "non-ascii": urllib.parse.quote("0123456789abcdéf0123456789abcdef"),
    "arabic-digits": urllib.parse.quote("\u0660" * 32),
    "arn-65-character-id": urllib.parse.quote(ARN.format(cluster="c/", task_id="a" * 65), safe=""),
    "arn-dotted-id": urllib.parse.quote(ARN.format(cluster="c/", task_id="a.b"), safe=""),
    "arn-not-ecs": urllib.parse.quote("arn:aws:ec2:us-east-1:111122223333:task/c/" + "a" * 32, safe=""),
    "arn-no-account": urllib.parse.quote("arn:aws:ecs:us-east-1::task/c/" + "a" * 32, safe=""),
}


@pytest.mark.parametrize("route", ["/tasks/{}", "/tasks/{}/history"])
@pytest.mark.parametrize("reference", CANNOT_BE_A_TASK_ID.values(), ids=CANNOT_BE_A_TASK_ID.keys())
def test_what_cannot_be_a_task_id_is_400_naming_task_id(
    local: LocalSystem, operator: dict, route: str, reference: str
) -> None:
    reply = send(local.url, "GET", route.format(reference), credentials=operator)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["code"] == "invalid_input" and reply.body["error"]["field"] == "taskId"


COULD_BE_A_TASK_ID = {
    "new-format": "0123456789abcdef0123456789abcdef",
    "old-format": "0123abcd-4567-89ef-0123-456789abcdef",
    "64-characters": "a" * 64,
    "one-character": "a",
    "arn-new-format": urllib.parse.quote(ARN.format(cluster="c/", task_id="f" * 32), safe=""),
    "arn-old-format": urllib.parse.quote(ARN.format(cluster="", task_id=str(uuid.UUID(int=7))), safe=""),
}


@pytest.mark.parametrize("route", ["/tasks/{}", "/tasks/{}/history"])
@pytest.mark.parametrize("reference", COULD_BE_A_TASK_ID.values(), ids=COULD_BE_A_TASK_ID.keys())
def test_what_could_be_a_task_id_is_looked_up(
    local: LocalSystem, operator: dict, route: str, reference: str
) -> None:
    reply = send(local.url, "GET", route.format(reference), credentials=operator)
    assert reply.status == 404, reply.body
    assert reply.body["error"]["code"] == "not_found" and reply.body["error"]["field"] == "taskId"


def test_an_old_format_task_is_found_by_its_uuid_and_by_its_arn(local: LocalSystem, operator: dict) -> None:
    task = fixture("v4-task-ec2-awsvpc.json")
    task_id = str(uuid.uuid4())
    task["TaskARN"] = ARN.format(cluster="", task_id=task_id)
    task["KnownStatus"] = "RUNNING"
    reply = post_snapshot(
        local, task_credentials(local, operator, task["TaskARN"]), task, collected_at="2026-11-28T09:00:00Z"
    )
    assert reply.status == 202, reply.body
    for reference in (task_id, urllib.parse.quote(task["TaskARN"], safe="")):
        shown = send(local.url, "GET", f"/tasks/{reference}", credentials=operator)
        assert shown.status == 200 and shown.body["taskId"] == task_id, shown.body
        history = send(local.url, "GET", f"/tasks/{reference}/history", credentials=operator)
        assert history.status == 200 and history.body["items"], history.body
