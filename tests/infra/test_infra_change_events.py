"""Change events out (docs/events.md): the bus, PutEvents for the indexer only and on that bus only,
the variable naming it, and the output; no alarm metric."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_synth import Synth

from core.environment import ENV_NAMES
from infra.config import ConfigError, config_from_context

pytestmark = pytest.mark.cdk

GIVEN = "arn:aws:events:eu-central-1:999988887777:event-bus/ops-changes"


def _functions_with_put_events(synth: Synth) -> dict[str, list[Any]]:
    """Each IAM policy's PutEvents resources, by the roles it is attached to."""
    found: dict[str, list[Any]] = {}
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "events:PutEvents" in actions:
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(statement["Resource"])
    return found


def _indexer(synth: Synth) -> tuple[str, dict[str, Any]]:
    ((fn_id, fn),) = [
        (k, f)
        for k, f in synth.resources("AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == "handlers.indexer.handler"
    ]
    return fn_id, fn["Properties"]


def test_the_stack_has_a_bus_of_its_own_by_default(default_synth: Synth) -> None:
    buses = {
        k: r["Properties"]["Name"]
        for k, r in default_synth.resources("AWS::Events::EventBus").items()
        if r["Properties"]["Name"].endswith("-changes")
    }
    ((bus_id, name),) = buses.items()
    assert name == "TaskBeacon-changes"
    _, indexer = _indexer(default_synth)
    variables = indexer["Environment"]["Variables"]
    assert variables[ENV_NAMES["change_events_bus"]] == {"Fn::GetAtt": [bus_id, "Arn"]}
    output = default_synth.raw["Outputs"]["ChangeEventsBusArn"]
    assert output["Value"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    roles = _functions_with_put_events(default_synth)
    assert list(roles.values()) == [[{"Fn::GetAtt": [bus_id, "Arn"]}]]
    (role,) = roles
    assert indexer["Role"] == {"Fn::GetAtt": [role, "Arn"]}


def test_a_bus_given_by_arn_is_used_and_none_is_created(lists_synth: Synth) -> None:
    names = [r["Properties"]["Name"] for r in lists_synth.resources("AWS::Events::EventBus").values()]
    assert not [name for name in names if name.endswith("-changes")]
    _, indexer = _indexer(lists_synth)
    assert indexer["Environment"]["Variables"][ENV_NAMES["change_events_bus"]] == GIVEN
    assert lists_synth.raw["Outputs"]["ChangeEventsBusArn"]["Value"] == GIVEN
    roles = _functions_with_put_events(lists_synth)
    assert list(roles.values()) == [[GIVEN]]
    assert indexer["Role"] == {"Fn::GetAtt": [next(iter(roles)), "Arn"]}


def test_no_other_function_may_put_events_and_no_alarm_watches_the_bus(any_synth: Synth) -> None:
    assert len(_functions_with_put_events(any_synth)) == 1
    alarms = json.dumps(any_synth.resources("AWS::CloudWatch::Alarm"))
    assert "AWS/Events" not in alarms


@pytest.mark.parametrize(
    "value",
    ["arn:aws:sns:eu-west-1:123456789012:topic", "ops-changes", "arn:aws:events:eu-west-1:1234:event-bus/x"],
)
def test_the_context_key_takes_an_event_bus_arn_only(value: str) -> None:
    with pytest.raises(ConfigError, match="changeEventsBusArn"):
        config_from_context({"taskbeacon:changeEventsBusArn": value})
    assert config_from_context({"taskbeacon:changeEventsBusArn": GIVEN}).change_events_bus_arn == GIVEN
