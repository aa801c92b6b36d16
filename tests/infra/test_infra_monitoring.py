"""Alarms that can fire (FILL on sparse operands), what they cover, and where they notify."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from infra_synth import NO_BUNDLING, Synth

from infra.application import build_app
from infra.config import ConfigError, config_from_context
from infra.monitoring import DDB_OPERATIONS, REJECTION_THRESHOLDS
from infra.stack import TaskBeaconStack

pytestmark = pytest.mark.cdk

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops-alarms"


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {k: a["Properties"] for k, a in synth.resources("AWS::CloudWatch::Alarm").items()}


def _alarm(synth: Synth, fragment: str) -> dict[str, Any]:
    (alarm,) = [a for k, a in _alarms(synth).items() if fragment in k]
    return alarm


def _expressions(alarm: dict[str, Any]) -> list[str]:
    return [m["Expression"] for m in alarm.get("Metrics", []) if "Expression" in m]


def _operands(alarm: dict[str, Any]) -> list[str]:
    return [m["Id"] for m in alarm["Metrics"] if "MetricStat" in m]


@pytest.mark.parametrize("fragment", ["TableThrottles", "TableSystemErrors"])
def test_table_alarms_fill_every_sparse_operand(default_synth: Synth, fragment: str) -> None:
    alarm = _alarm(default_synth, fragment)
    (expression,) = _expressions(alarm)
    operands = _operands(alarm)
    assert len(operands) >= 2
    # Every operand appears only inside FILL(<id>, 0): one empty operand cannot empty the sum.
    assert sorted(re.findall(r"FILL\((\w+), 0\)", expression)) == sorted(operands)
    assert re.sub(r"FILL\(\w+, 0\)", "", expression).strip(" +") == ""
    assert len(alarm["Metrics"]) <= 10  # CloudWatch's limit of metrics per alarm


def test_system_errors_cover_every_operation_the_functions_call(default_synth: Synth) -> None:
    from infra.functions import DYNAMODB_CALLS

    alarm = _alarm(default_synth, "TableSystemErrors")
    operations = {
        d["Value"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "Operation"
    }
    assert operations == set(DDB_OPERATIONS)
    assert {call for calls in DYNAMODB_CALLS.values() for call in calls} <= operations
    assert "GetRecords" in operations  # the indexer's stream reads


def test_rejected_alarms_by_reason(default_synth: Synth) -> None:
    alarms = {
        next(d["Value"] for d in a["Dimensions"] if d["Name"] == "reason"): a
        for a in _alarms(default_synth).values()
        if a.get("MetricName") == "Rejected"
    }
    assert set(alarms) == set(REJECTION_THRESHOLDS)
    assert "forbidden" in alarms  # a fleet-wide 403 must not pass unseen
    for reason, alarm in alarms.items():
        assert alarm["Namespace"] == "TaskBeacon"
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
            {"Name": "reason", "Value": reason},
            {"Name": "service", "Value": "taskbeacon"},
        ]
        assert alarm["Statistic"] == "Sum"
        assert alarm["Threshold"] == REJECTION_THRESHOLDS[reason]
        assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("fragment", "metric", "threshold"), [("Api4xxRate", "4XXError", 10), ("Api5xxRate", "5XXError", 1)]
)
def test_api_error_rate_alarms(default_synth: Synth, fragment: str, metric: str, threshold: int) -> None:
    alarm = _alarm(default_synth, fragment)
    assert alarm["Threshold"] == threshold
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert sorted(names.values()) == sorted([metric, "Count"])
    (expression,) = _expressions(alarm)
    errors, requests = (next(i for i, n in names.items() if n == wanted) for wanted in (metric, "Count"))
    # A percentage of requests, filled where a period has no errors, and 0 when traffic is too low.
    assert f"FILL({errors}, 0)" in expression and f"FILL({requests}, 0) >= 20" in expression
    assert expression.startswith("IF(") and "100 *" in expression


def test_alarm_inventory_and_dashboard(default_synth: Synth, full_synth: Synth) -> None:
    alarms = _alarms(default_synth)
    per_function = {
        f"{fn}{kind}"
        for fn in ("Ingest", "Query", "Events", "Indexer", "Reconciler")
        for kind in ("Errors", "Throttles")
    }
    others = {
        "Api4xxRate",
        "Api5xxRate",
        "TableThrottles",
        "TableSystemErrors",
        "EventsDeadLetters",
        "IndexerFailures",
        "IndexerIteratorAge",
    }
    for name in per_function | others:
        assert [k for k in alarms if k.startswith(f"Monitoring{name}")], name
    assert len(alarms) == len(per_function) + len(others) + len(REJECTION_THRESHOLDS)
    assert all("AlarmActions" not in a for a in alarms.values())
    for alarm in _alarms(full_synth).values():
        assert alarm["AlarmActions"] == [TOPIC]
    widgets = _dashboard_widgets(default_synth)
    for title in ("Rejected by reason", "API 4XX and 5XX rates (%)", "Indexer iterator age (ms)"):
        assert title in widgets
    lines = widgets["Rejected by reason"]["metrics"]
    assert {line[-1]["label"] for line in lines} == {
        f"Rejected {r}" for r in (*REJECTION_THRESHOLDS, "not_found", "invalid_cursor")
    }
    (search,) = widgets["Rejected, every reason seen"]["metrics"]
    assert (
        search[0]["expression"] == "SEARCH('{TaskBeacon,reason,service} MetricName=\"Rejected\"', 'Sum', 300)"
    )


def _dashboard_widgets(synth: Synth) -> dict[str, dict[str, Any]]:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in body["Fn::Join"][1])
    return {w["properties"].get("title", ""): w["properties"] for w in json.loads(text)["widgets"]}


def test_alarm_topic_in_another_region_fails_synth_naming_the_key(tmp_path: Path) -> None:
    context = {**NO_BUNDLING, "taskbeacon:alarmTopicArn": TOPIC}
    with pytest.raises(ConfigError, match=r"'taskbeacon:alarmTopicArn'.*eu-west-1.*us-east-1"):
        build_app(context=context, outdir=str(tmp_path), deploy_region="us-east-1")
    build_app(context=context, outdir=str(tmp_path), deploy_region="eu-west-1")  # same region: fine
    # A stack given an explicit region is checked at construction too.
    with pytest.raises(ConfigError, match="'taskbeacon:alarmTopicArn'"):
        TaskBeaconStack(
            cdk.App(context=NO_BUNDLING),
            "Pinned",
            config=config_from_context({"taskbeacon:alarmTopicArn": TOPIC}),
            env=cdk.Environment(region="ap-southeast-2"),
        )


def test_alarm_topic_region_from_the_cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `cdk deploy` of an environment-agnostic stack targets the CLI's region, given as CDK_DEFAULT_REGION.
    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-west-2")
    with pytest.raises(ConfigError, match="'taskbeacon:alarmTopicArn'"):
        build_app(context={**NO_BUNDLING, "taskbeacon:alarmTopicArn": TOPIC}, outdir=str(tmp_path))
    monkeypatch.delenv("CDK_DEFAULT_REGION")
    built = build_app(context={**NO_BUNDLING, "taskbeacon:alarmTopicArn": TOPIC}, outdir=str(tmp_path))
    assert cdk.Token.is_unresolved(built.stack.region)  # unknown region: checked by CloudWatch at deploy
