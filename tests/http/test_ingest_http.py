"""POST /snapshots through local mode's real gateway: SigV4, caller = task, validation, newer wins."""

from __future__ import annotations

import copy
import json
import uuid

from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import envelope, post_snapshot, send


def _fresh_task(cluster: str = "demo") -> dict:
    """The Fargate docs fixture under a new task id in the local account (each test owns its task)."""
    task = fixture("v4-task-fargate-docs.json")
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/{cluster}/{task_id}"
    task["Cluster"] = f"arn:aws:ecs:us-east-1:111122223333:cluster/{cluster}"
    return task


def _get_task(local: LocalSystem, operator: dict, task_id: str):
    return send(local.url, "GET", f"/tasks/{task_id}", credentials=operator)


def test_task_posts_its_own_snapshot_and_operator_reads_it(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    task_id = task["TaskARN"].rsplit("/", 1)[-1]
    creds = task_credentials(local, operator, task["TaskARN"])
    reply = post_snapshot(local, creds, task, collected_at="2026-11-28T09:14:03.123456Z")
    assert reply.status == 202, reply.body
    assert reply.body["taskIds"] == [task_id]
    shown = _get_task(local, operator, task_id)
    assert shown.status == 200
    assert shown.body["taskArn"] == task["TaskARN"]
    assert shown.body["lastStatus"] == task["KnownStatus"]
    assert shown.body["containers"][0]["networks"][0]["ipv4Addresses"] == ["192.0.2.3"]


def test_unsigned_request_is_403(local: LocalSystem) -> None:
    reply = send(local.url, "GET", "/tasks", credentials=None)
    assert reply.status == 403
    # The stack's gateway responses give API Gateway's own rejections the API's error shape.
    assert reply.body == {
        "error": {
            "code": "MISSING_AUTHENTICATION_TOKEN",
            "message": "Missing Authentication Token",
            "field": None,
        }
    }


def test_wrong_signature_is_403_and_writes_nothing(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    body = envelope(task, collected_at="2026-11-28T09:14:03Z")
    reply = send(local.url, "POST", "/snapshots", credentials=creds, body=body, tamper=True)
    assert reply.status == 403
    assert reply.body["error"]["code"] == "INVALID_SIGNATURE"
    assert "signature" in reply.body["error"]["message"]
    assert _get_task(local, operator, task["TaskARN"].rsplit("/", 1)[-1]).status == 404


def test_task_cannot_post_another_tasks_snapshot(local: LocalSystem, operator: dict) -> None:
    mine, other = _fresh_task(), _fresh_task()
    creds = task_credentials(local, operator, mine["TaskARN"])
    reply = post_snapshot(local, creds, other, collected_at="2026-11-28T09:14:03Z")
    assert reply.status == 403
    assert reply.body["error"]["code"] == "forbidden"
    assert _get_task(local, operator, other["TaskARN"].rsplit("/", 1)[-1]).status == 404


def test_task_credentials_cannot_query(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    assert send(local.url, "GET", "/tasks", credentials=creds).status == 403


def test_malformed_json_is_400_naming_body(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    reply = send(local.url, "POST", "/snapshots", credentials=creds, body=b'{"schemaVersion": 1,')
    assert reply.status == 400
    assert reply.body["error"]["field"] == "body"


def test_unknown_source_is_400_naming_source(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    reply = post_snapshot(local, creds, task, source="tmde-v9", collected_at="2026-11-28T09:14:03Z")
    assert reply.status == 400
    assert reply.body["error"]["field"] == "source"


def test_older_snapshot_after_newer_leaves_newer_in_place(local: LocalSystem, operator: dict) -> None:
    newer = _fresh_task()
    newer["KnownStatus"] = "RUNNING"
    older = copy.deepcopy(newer)
    older["KnownStatus"] = "PENDING"
    older["Containers"][0]["Image"] = "busybox:old"
    creds = task_credentials(local, operator, newer["TaskARN"])
    task_id = newer["TaskARN"].rsplit("/", 1)[-1]
    first = post_snapshot(local, creds, newer, collected_at="2026-11-28T10:00:00Z", sequence=5)
    second = post_snapshot(local, creds, older, collected_at="2026-11-28T09:00:00Z", sequence=9)
    assert first.status == 202 and second.status == 202
    assert second.body["changed"] == []
    shown = _get_task(local, operator, task_id).body
    assert shown["lastStatus"] == "RUNNING"
    assert shown["containers"][0]["image"] == newer["Containers"][0]["Image"]


def test_oversized_body_is_413(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    task["Padding"] = "x" * 300_000
    reply = post_snapshot(local, creds, task, collected_at="2026-11-28T09:14:03Z")
    assert reply.status == 413
    assert reply.body["error"]["code"] == "payload_too_large" and reply.body["error"]["field"] == "body"
    assert _get_task(local, operator, task["TaskARN"].rsplit("/", 1)[-1]).status == 404


def test_operator_only_local_routes(local: LocalSystem, operator: dict) -> None:
    task = _fresh_task()
    creds = task_credentials(local, operator, task["TaskARN"])
    reply = send(
        local.url,
        "POST",
        "/_local/credentials",
        credentials=creds,
        body=json.dumps({"taskArn": task["TaskARN"]}).encode(),
    )
    assert reply.status == 403
    bad = send(local.url, "POST", "/_local/credentials", credentials=operator, body=b'{"taskArn": "nope"}')
    assert bad.status == 400 and bad.body["error"]["field"] == "taskArn"
