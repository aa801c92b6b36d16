"""DescribeTasks and ECS events carry `overrides`, whose container environment may hold secrets given
to RunTask. The inventory keeps none of it (docs/security.md "What the sweep can read")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.normalize import normalize_event
from core.normalize.ecs_api import normalize_described
from core.store.records import task_document
from tests.ecs_fixtures import FIXTURES

SECRET = "s3cr3t-in-an-override"
OVERRIDES = {
    "containerOverrides": [
        {
            "name": "app",
            "command": ["run", f"--token={SECRET}"],
            "environment": [{"name": "TOKEN", "value": SECRET}],
        }
    ],
    "executionRoleArn": f"arn:aws:iam::111122223333:role/{SECRET}",
}
API_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ecs-api"


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name
        for p in API_FIXTURES.glob("describe-tasks-*.json")
        if "placeholders" not in p.name and "epoch" not in p.name
    ),
)
def test_a_swept_task_keeps_nothing_of_its_overrides(name: str) -> None:
    answer: dict[str, Any] = json.loads((API_FIXTURES / name).read_text())
    task = answer["tasks"][0]
    task["overrides"] = OVERRIDES
    observation = normalize_described(task, observed_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert SECRET not in json.dumps(task_document(observation.task))


def test_an_event_keeps_nothing_of_its_overrides() -> None:
    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    event["detail"]["overrides"] = OVERRIDES
    assert SECRET not in json.dumps(task_document(normalize_event(event).task))
