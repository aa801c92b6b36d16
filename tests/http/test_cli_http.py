"""The operator CLI against local mode's real gateway (SigV4 from the standard credential chain)."""

from __future__ import annotations

import json
import uuid

import pytest

from taskbeacon.cli.main import main
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot


def test_cli_lists_shows_searches_and_summarizes(
    local: LocalSystem, operator: dict, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = f"cli{uuid.uuid4().hex[:6]}"
    task = fixture("v4-task-fargate-docs.json")
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/{cluster}/{task_id}"
    task["Cluster"] = f"arn:aws:ecs:us-east-1:111122223333:cluster/{cluster}"
    creds = task_credentials(local, operator, task["TaskARN"])
    assert post_snapshot(local, creds, task, collected_at="2026-11-28T09:00:00Z").status == 202

    assert main(["tasks", "list", "--cluster", cluster, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["taskId"] for item in listed["items"]] == [task_id]

    assert main(["tasks", "list", "--cluster", cluster]) == 0
    table = capsys.readouterr().out
    assert task_id in table and cluster in table

    assert main(["tasks", "show", task["TaskARN"]]) == 0
    assert "192.0.2.3" in capsys.readouterr().out

    assert main(["search", "--ip", "192.0.2.3", "--json", "--all"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert task_id in {item["task"]["taskId"] for item in found["items"]}

    assert main(["summary", "--by", "cluster"]) == 0
    assert f"{cluster} (111122223333, us-east-1)" in capsys.readouterr().out  # names, not ARNs

    assert main(["tasks", "show", uuid.uuid4().hex]) == 3
