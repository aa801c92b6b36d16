"""The run-time net under the sidecar: STOPPED tasks with the agent that could not pull an image."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_synth import Synth

from infra.agent_sidecar import CONTAINER_NAME

pytestmark = pytest.mark.cdk


def _rules(synth: Synth) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in synth.resources("AWS::Events::Rule").values()
        if "image pull error" in rule["Properties"].get("Description", "")
    ]


def test_one_rule_per_bus_the_events_function_listens_to(default_synth: Synth, full_synth: Synth) -> None:
    assert len(_rules(default_synth)) == 1  # the account's default bus
    buses = {json.dumps(rule.get("EventBusName")) for rule in _rules(full_synth)}
    assert len(buses) == 2  # the default bus and the bus other accounts forward to


def test_the_pattern_names_the_agent_and_the_pull_error(default_synth: Synth) -> None:
    (rule,) = _rules(default_synth)
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    detail = pattern["detail"]
    assert detail["lastStatus"] == ["STOPPED"]
    assert detail["containers"] == {"name": [CONTAINER_NAME]}
    wildcard = [{"wildcard": "*CannotPullContainerError*"}]
    assert detail["$or"] == [{"stoppedReason": wildcard}, {"containers": {"reason": wildcard}}]


def test_matches_go_to_a_queue_whose_sends_are_alarmed(default_synth: Synth) -> None:
    (rule,) = _rules(default_synth)
    ((target_queue, _),) = [t["Arn"]["Fn::GetAtt"] for t in rule["Targets"]]
    assert default_synth.raw["Resources"][target_queue]["Type"] == "AWS::SQS::Queue"
    (alarm,) = [
        a["Properties"]
        for k, a in default_synth.resources("AWS::CloudWatch::Alarm").items()
        if "AgentImagePullFailures" in k
    ]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["MetricName"] == "NumberOfMessagesSent"
    queue_name = {"Fn::GetAtt": [target_queue, "QueueName"]}
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    assert alarm["Threshold"] == 1 and alarm["Statistic"] == "Sum"
