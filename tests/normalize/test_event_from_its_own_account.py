"""An ECS event is AWS's word about a task only for the account and region EventBridge stamped it
with: a member account forwards its own events, so a task ARN of another account or region is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import InvalidInput
from core.normalize import normalize_event
from tests.ecs_fixtures import FIXTURES


def _event() -> dict[str, Any]:
    return json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())


def test_an_event_of_the_tasks_own_account_and_region_is_taken() -> None:
    event = _event()
    observation = normalize_event(event)
    assert (observation.task.account_id, observation.task.region) == (event["account"], event["region"])


@pytest.mark.parametrize(("field", "value"), [("account", "999988887777"), ("region", "eu-central-1")])
def test_a_task_of_another_account_or_region_is_refused_naming_the_field(field: str, value: str) -> None:
    event = _event()
    event[field] = value
    with pytest.raises(InvalidInput) as raised:
        normalize_event(event)
    assert raised.value.field == field
    assert "detail.taskArn" in raised.value.message
