"""Caller = task over HTTP, beyond the task role: the daemon's collector role, old task ARNs, local routes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import envelope, post_snapshot, send

RECORDED_ACCOUNT = "012345678910"  # the account in the recorded introspection payloads


def _collector(local: LocalSystem, operator: dict, account: str) -> dict[str, str]:
    body = json.dumps({"collector": True, "accountId": account}).encode()
    reply = send(local.url, "POST", "/_local/credentials", credentials=operator, body=body)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def _host_report(account: str) -> tuple[str, bytes]:
    """A daemon's introspection report of the recorded host, moved into ``account`` under a new task id."""
    task_id = f"example-{uuid.uuid4()}"
    tasks = json.loads(
        json.dumps(fixture("introspection-v1-tasks.json")["Tasks"])
        .replace(RECORDED_ACCOUNT, account)
        .replace("example5-58ff-46c9-ae05-543f8example", task_id)
    )
    host = fixture("introspection-v1-metadata.json")
    host["Cluster"] = "default"
    host["ContainerInstanceArn"] = (
        f"arn:aws:ecs:us-west-2:{account}:container-instance/default/{uuid.uuid4().hex}"
    )
    body = envelope({}, collected_at="2026-11-28T09:14:03Z", source="introspection")
    document: dict[str, Any] = json.loads(body)
    document.pop("task", None)
    document.update(tasks=tasks, container=host)
    document["agent"]["mode"] = "daemon"
    return task_id, json.dumps(document).encode()


def test_allowlisted_collector_reports_every_task_of_its_host(local: LocalSystem, operator: dict) -> None:
    task_id, body = _host_report(local.account_id)
    reply = send(
        local.url, "POST", "/snapshots", credentials=_collector(local, operator, local.account_id), body=body
    )
    assert reply.status == 202, reply.body
    assert reply.body["taskIds"] == [task_id]
    shown = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).body
    assert shown["clusterName"] == "default"
    assert shown["containerInstanceArn"].startswith(
        f"arn:aws:ecs:us-west-2:{local.account_id}:container-instance/"
    )


def test_collector_of_another_account_is_refused_and_writes_nothing(
    local: LocalSystem, operator: dict
) -> None:
    foreign = "999988887777"
    task_id, body = _host_report(local.account_id)
    reply = send(local.url, "POST", "/snapshots", credentials=_collector(local, operator, foreign), body=body)
    assert reply.status == 403 and reply.body["error"]["code"] == "forbidden"
    # Its own account's tasks too: that collector role is not on the allowlist.
    _, own = _host_report(foreign)
    assert (
        send(
            local.url, "POST", "/snapshots", credentials=_collector(local, operator, foreign), body=own
        ).status
        == 403
    )
    assert send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).status == 404


def test_task_with_an_old_format_arn_posts_its_own_snapshot(local: LocalSystem, operator: dict) -> None:
    task = fixture("v4-task-ec2-bridge.json")
    task_id = str(uuid.uuid4())
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:{local.account_id}:task/{task_id}"  # no cluster segment
    task["Cluster"] = "legacy"
    creds = task_credentials(local, operator, task["TaskARN"])
    reply = post_snapshot(local, creds, task, collected_at="2026-11-28T09:14:03Z")
    assert reply.status == 202, reply.body
    shown = send(local.url, "GET", f"/tasks/{task_id}", credentials=operator).body
    assert shown["clusterName"] == "legacy" and shown["taskArn"] == task["TaskARN"]
    other = task_credentials(local, operator, f"arn:aws:ecs:us-east-1:{local.account_id}:task/{uuid.uuid4()}")
    assert post_snapshot(local, other, task, collected_at="2026-11-28T09:15:03Z").status == 403


def test_only_operators_may_play_events(local: LocalSystem, operator: dict) -> None:
    event = fixture("eventbridge-task-state-change-fargate-running.json")
    creds = task_credentials(local, operator, event["detail"]["taskArn"])
    reply = send(local.url, "POST", "/_local/events", credentials=creds, body=json.dumps(event).encode())
    assert reply.status == 403
