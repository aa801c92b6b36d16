"""Alarms that can fire (FILL on sparse operands), what they cover, and where they notify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from infra_synth import NO_BUNDLING, Synth

from infra.application import build_app
from infra.config import ConfigError, config_from_context
from infra.monitoring import FIXED_COST_GOAL_USD, REJECTED_THRESHOLD
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


def _billed_alarm_metrics(alarm: dict[str, Any]) -> int:
    """CloudWatch bills each metric an alarm evaluates: one, or every MetricStat of its math."""
    return 1 if "MetricName" in alarm else len(_operands(alarm))


def test_fixed_cost_at_defaults_is_within_the_goal(default_synth: Synth) -> None:
    """$0.10 per billed alarm metric, $0.30 per custom metric, no dashboard: at most $1.50 a month."""
    alarms = _alarms(default_synth)
    alarm_metrics = sum(_billed_alarm_metrics(a) for a in alarms.values())
    fixed = alarm_metrics * 0.10 + 1 * 0.30  # one custom metric: Rejected{service}
    # 11 alarm metrics (the sweep adds none: its failures land in the events dead letters) x $0.10 +
    # $0.30 = $1.40. No queue is polled by Lambda (the sweep's worker is invoked asynchronously).
    assert alarm_metrics == 11, sorted(alarms)
    assert round(fixed, 2) == 1.40 <= FIXED_COST_GOAL_USD
    queues = default_synth.resources("AWS::SQS::Queue")
    assert not [
        m
        for m in default_synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"].get("Fn::GetAtt", [""])[0] in queues
    ]
    assert default_synth.resources("AWS::CloudWatch::Dashboard") == {}
    # Per-method stage metrics are billed as custom metrics; the API-wide ones are free.
    (stage,) = default_synth.resources("AWS::ApiGateway::Stage").values()
    assert [s["MetricsEnabled"] for s in stage["Properties"]["MethodSettings"]] == [False]
    # Every alarmed custom metric is the one the handlers publish.
    custom = {a["MetricName"] for a in alarms.values() if a.get("Namespace") == "TaskBeacon"}
    assert custom == {"Rejected"}


def test_the_rejected_alarm_watches_the_one_custom_metric(default_synth: Synth) -> None:
    alarm = _alarm(default_synth, "MonitoringRejected")
    assert alarm["Namespace"] == "TaskBeacon" and alarm["MetricName"] == "Rejected"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "taskbeacon"}]
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == REJECTED_THRESHOLD
    assert alarm["TreatMissingData"] == "notBreaching"


def test_api_4xx_rate_alarm(default_synth: Synth) -> None:
    alarm = _alarm(default_synth, "Api4xxRate")
    assert alarm["Threshold"] == 10
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert sorted(names.values()) == sorted(["4XXError", "Count"])
    (expression,) = _expressions(alarm)
    errors, requests = (next(i for i, n in names.items() if n == wanted) for wanted in ("4XXError", "Count"))
    # A percentage of requests, filled where a period has no errors, and 0 when traffic is too low.
    assert f"FILL({errors}, 0)" in expression and f"FILL({requests}, 0) >= 20" in expression
    assert expression.startswith("IF(") and "100 *" in expression


def test_api_5xx_alarm_counts_server_errors(default_synth: Synth) -> None:
    alarm = _alarm(default_synth, "MonitoringApi5xx")
    assert alarm["MetricName"] == "5XXError" and alarm["Namespace"] == "AWS/ApiGateway"
    assert alarm["Threshold"] == 5 and alarm["Statistic"] == "Sum"


def test_alarm_inventory(default_synth: Synth, full_synth: Synth) -> None:
    alarms = _alarms(default_synth)
    expected = {
        "EventsErrors",
        "IndexerErrors",
        "ReconcilerErrors",
        "Api5xx",
        "Api4xxRate",
        "Rejected",
        "EventsDeadLetters",
        "IndexerFailures",
        "IndexerIteratorAge",
        "AgentImagePullFailures",
    }
    found = {name for name in expected if [k for k in alarms if k.startswith(f"Monitoring{name}")]}
    assert found == expected
    assert len(alarms) == len(expected)
    assert all("AlarmActions" not in a for a in alarms.values())
    for alarm in _alarms(full_synth).values():
        assert alarm["AlarmActions"] == [TOPIC]


def test_a_failing_sweep_is_alarmed_whatever_way_it_fails(default_synth: Synth) -> None:
    """A sweep unit that failed Lambda's retries (raised or timed out) or waited too long, and a planning
    run that failed, land in the events dead letters: alarmed, no alarm metric of the sweep's own."""
    events_dlq = _alarm(default_synth, "MonitoringEventsDeadLetters")["Dimensions"][0]["Value"]["Fn::GetAtt"][
        0
    ]
    functions = {
        fn["Properties"].get("Handler"): (k, fn["Properties"])
        for k, fn in default_synth.resources("AWS::Lambda::Function").items()
    }
    planner = functions["handlers.sweeper.plan_handler"][1]
    assert planner["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [events_dlq, "Arn"]}}
    worker_id = functions["handlers.sweeper.work_handler"][0]
    (config,) = [
        c["Properties"]
        for c in default_synth.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": worker_id}
    ]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [events_dlq, "Arn"]}


def test_dashboard_on_request(full_synth: Synth) -> None:
    widgets = _dashboard_widgets(full_synth)
    for title in ("API 4XX rate (%)", "Indexer iterator age (ms)", "Dead letters and indexer failures"):
        assert title in widgets
    assert "DashboardName" in full_synth.raw["Outputs"]


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
