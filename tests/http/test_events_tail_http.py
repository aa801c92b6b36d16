"""Change events in local mode: the indexer publishes to the in-process bus, ``taskbeacon events
tail`` reads it through the gateway's operator-only ``GET /_local/events/published``."""

from __future__ import annotations

import json
import uuid

import pytest

from taskbeacon.cli.main import main
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import posted_task, task_credentials
from tests.http.localapi import post_snapshot, send


def test_events_tail_shows_the_task_first_seen_once(
    local: LocalSystem, operator: dict, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, task = posted_task(local, operator, "evt")
    task_id = task["TaskARN"].rsplit("/", 1)[-1]
    creds = task_credentials(local, operator, task["TaskARN"])
    # The same report again (a duplicate): no second event.
    assert post_snapshot(local, creds, task, collected_at="2026-11-28T09:00:00Z").status in (200, 202)

    assert main(["events", "tail"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = [event for event in lines if event["detail"]["taskId"] == task_id]
    kinds = [event["detail-type"] for event in mine]
    assert kinds.count("Task First Seen") == 1
    # Its image's digest is new to this local system unless an earlier test ran it first.
    assert set(kinds) <= {"Task First Seen", "Image Digest First Seen"}
    (first,) = [event for event in mine if event["detail-type"] == "Task First Seen"]
    assert first["source"] == "taskbeacon"
    assert first["resources"] == [task["TaskARN"]]
    assert first["detail"]["clusterArn"] == task["Cluster"]
    assert len(first["detail"]["eventId"]) == 32

    assert main(["events", "tail", "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_the_route_is_for_the_operator_only(local: LocalSystem, operator: dict) -> None:
    arn = f"arn:aws:ecs:us-east-1:111122223333:task/x/{uuid.uuid4().hex}"
    creds = task_credentials(local, operator, arn)
    path = "/_local/events/published"
    assert send(local.url, "GET", path, credentials=creds, region=local.region).status == 403
    assert send(local.url, "GET", path, credentials=None, region=local.region).status == 403
    answer = send(local.url, "GET", path + "?after=x", credentials=operator, region=local.region)
    assert answer.status == 400
