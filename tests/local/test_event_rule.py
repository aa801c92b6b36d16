"""Local mode applies the deployed rule's pattern (core.vocabulary) as EventBridge does."""

from __future__ import annotations

from typing import Any

import pytest

from taskbeacon.local.aws.event_rule import rule_passes


@pytest.mark.cdk
def test_the_deployed_rule_has_the_pattern_local_mode_applies() -> None:
    pytest.importorskip("aws_cdk")
    from infra.events import task_state_change_pattern

    pattern = task_state_change_pattern()
    assert pattern.source == ["aws.ecs"] and pattern.detail_type == ["ECS Task State Change"]
    assert pattern.detail == {
        "$or": [{"lastStatus": ["STOPPED"]}, {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]}]
    }


def _event(last: str, desired: str) -> dict[str, Any]:
    return {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {"lastStatus": last, "desiredStatus": desired},
    }


@pytest.mark.parametrize(
    ("last", "desired", "passes"),
    [
        ("RUNNING", "RUNNING", True),
        ("STOPPED", "STOPPED", True),
        ("PENDING", "RUNNING", False),
        ("PROVISIONING", "RUNNING", False),
        ("RUNNING", "STOPPED", False),  # the stop announced while it still runs
        ("DEPROVISIONING", "STOPPED", False),
    ],
)
def test_the_rule_passes_running_and_stopped_only(last: str, desired: str, passes: bool) -> None:
    assert rule_passes(_event(last, desired)) is passes


def test_other_sources_and_detail_types_do_not_pass() -> None:
    assert not rule_passes({**_event("RUNNING", "RUNNING"), "source": "aws.ec2"})
    other_type = "ECS Container Instance State Change"
    assert not rule_passes({**_event("RUNNING", "RUNNING"), "detail-type": other_type})
    assert not rule_passes({"source": "aws.ecs", "detail-type": "ECS Task State Change"})


def test_the_rule_pattern_uses_only_what_the_matcher_has() -> None:
    from taskbeacon.local.aws.event_pattern import check_pattern
    from taskbeacon.local.aws.event_rule import RULE_PATTERN

    check_pattern(RULE_PATTERN)  # raises on syntax the matcher would silently mismatch
