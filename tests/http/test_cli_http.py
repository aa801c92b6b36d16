"""The operator CLI against local mode's real gateway (SigV4 from the standard credential chain)."""

from __future__ import annotations

import json
import uuid

import pytest

from taskbeacon.cli.main import main
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import posted_task


def test_cli_lists_shows_searches_and_summarizes(
    local: LocalSystem, operator: dict, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster, task = posted_task(local, operator, "cli")
    task_id = task["TaskARN"].rsplit("/", 1)[-1]

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
