"""JSON logs carry a correlation id; the one custom metric, Rejected, counts what may need a human.

Every metric name and dimension set is billed ($0.30 a month each), so there is exactly one: the
reason of a rejection is in its log line, and accepted counts, latency and items written are in the
accepted line (Lambda's and DynamoDB's own metrics carry the rest).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from taskbeacon.local.aws.principals import PrincipalRegistry
from tests.ecs_fixtures import FIXTURES
from tests.handlers.conftest import LogCapture, deliver_event, emf_blobs, http, metric_values


def _task_doc() -> tuple[str, dict[str, Any]]:
    task = json.loads((FIXTURES / "v4-task-fargate-docs.json").read_text())
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/demo/{task_id}"
    task["Cluster"] = "arn:aws:ecs:us-east-1:111122223333:cluster/demo"
    return task["TaskARN"], task


def _body(task: dict[str, Any], **extra: Any) -> bytes:
    envelope = {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": "2026-11-28T09:14:03.5Z",
        "sequence": 1,
        "reason": "start",
        "agent": {"version": "test", "mode": "once", "instanceId": "agent-1"},
        "task": task,
        **extra,
    }
    return json.dumps(envelope).encode()


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics on, as in Lambda (local mode and most tests switch them off)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def _metric_names(blobs: list[dict[str, Any]]) -> set[tuple[str, tuple[str, ...]]]:
    """Every (metric name, dimension set) the blobs publish: each one is a billed custom metric."""
    return {
        (metric["Name"], tuple(sorted(dimensions)))
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"]
    }


def test_accepted_snapshot_publishes_no_metric_and_logs_its_cost(
    table: Any, principals: PrincipalRegistry, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    arn, task = _task_doc()
    with LogCapture() as logs:
        reply = http("POST", "/snapshots", principals.task(arn), _body(task))
    assert reply.status == 202, reply.body
    assert _metric_names(emf_blobs(capsys.readouterr().out)) == set()
    (accepted,) = [line for line in logs.lines if line["message"] == "snapshot accepted"]
    assert accepted["write_items"] == 1 and accepted["normalize_ms"] >= 0  # the record alone
    with LogCapture() as logs:  # a keepalive that changes nothing: no line at INFO
        again = http("POST", "/snapshots", principals.task(arn), _body(task, reason="keepalive", sequence=2))
    assert again.status == 202, again.body
    assert [line for line in logs.lines if line["level"] == "INFO"] == []


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda arn, task, p: (p.task(arn), b"{not json"), 400, "invalid_input"),
        (lambda arn, task, p: (p.task(arn), _body(task, source="tmde-v9")), 400, "invalid_input"),
        (lambda arn, task, p: (p.task(arn + "0"), _body(task)), 403, "forbidden"),
        (lambda arn, task, p: (p.task(arn), _body({**task, "Pad": "x" * 300_000})), 413, "payload_too_large"),
    ],
    ids=["not-json", "unknown-source", "other-task", "too-large"],
)
def test_rejections_are_counted_by_reason(
    table: Any,
    principals: PrincipalRegistry,
    emf: None,
    capsys: pytest.CaptureFixture[str],
    make: Any,
    status: int,
    reason: str,
) -> None:
    arn, task = _task_doc()
    principal, body = make(arn, task, principals)
    reply = http("POST", "/snapshots", principal, body)
    assert reply.status == status and reply.body["error"]["code"] == reason
    blobs = emf_blobs(capsys.readouterr().out)
    assert metric_values(blobs, "Rejected") == [1.0]
    assert ("Rejected", ("reason", "service")) not in _metric_names(blobs)  # no metric per reason


def test_client_noise_is_logged_not_counted(
    table: Any, principals: PrincipalRegistry, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with LogCapture() as logs:
        reply = http("GET", "/tasks/0123456789abcdef0123456789abcdef", principals.operator())
    assert reply.status == 404
    assert metric_values(emf_blobs(capsys.readouterr().out), "Rejected") == []
    (line,) = [entry for entry in logs.lines if entry["message"] == "request rejected"]
    assert line["code"] == "not_found"


def test_query_parameter_errors_are_counted_too(
    table: Any, principals: PrincipalRegistry, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = http("GET", "/tasks", principals.operator(), query="limit=0")
    assert reply.status == 400 and reply.body["error"]["field"] == "limit"
    assert metric_values(emf_blobs(capsys.readouterr().out), "Rejected") == [1.0]


def test_metrics_stay_silent_when_disabled(
    table: Any,
    principals: PrincipalRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    http("POST", "/snapshots", principals.operator(), b"{}")
    assert emf_blobs(capsys.readouterr().out) == []


def test_every_ingest_log_line_carries_the_api_gateway_request_id(
    table: Any, principals: PrincipalRegistry
) -> None:
    arn, task = _task_doc()
    with LogCapture() as logs:
        accepted = http("POST", "/snapshots", principals.task(arn), _body(task))
        refused = http("POST", "/snapshots", principals.task(arn + "0"), _body(task))
    assert (accepted.status, refused.status) == (202, 403)
    # One line a report at INFO: "snapshot accepted" or "request rejected".
    (received,) = [line for line in logs.lines if line["message"] == "snapshot accepted"]
    (rejected,) = [line for line in logs.lines if line["message"] == "request rejected"]
    assert received["correlation_id"] == accepted.request_id
    assert rejected["correlation_id"] == refused.request_id != accepted.request_id
    assert received["service"] == "taskbeacon" and received["level"] == "INFO"
    assert received["function_name"] == "taskbeacon-ingest"
    assert rejected["status"] == 403 and rejected["code"] == "forbidden"
    assert not [line for line in logs.lines if line["message"] == "snapshot received"]  # DEBUG only
    # Structured, and never the credentials: the caller is named by ARN only.
    assert received["caller"].endswith(f"/{arn.rsplit('/', 1)[-1]}")
    assert "SecretAccessKey" not in logs.buffer.getvalue()


def test_query_log_lines_carry_the_request_id(table: Any, principals: PrincipalRegistry) -> None:
    with LogCapture() as logs:
        reply = http("GET", "/search", principals.operator(), query="ip=10.0.0.1&image=nginx")
    assert reply.status == 400
    (line,) = [entry for entry in logs.lines if entry["message"] == "request rejected"]
    assert line["correlation_id"] == reply.request_id
    assert line["function_name"] == "taskbeacon-query"


def test_event_log_lines_carry_the_eventbridge_event_id(
    table: Any, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    event["id"] = str(uuid.uuid4())
    broken = json.loads(json.dumps(event))
    del broken["detail"]["taskArn"]
    broken["id"] = str(uuid.uuid4())
    with LogCapture() as logs:
        assert deliver_event(event)["accepted"] is True
        refused = deliver_event(broken)
    assert refused["accepted"] is False and refused["field"] == "detail.taskArn"
    (line,) = [entry for entry in logs.lines if entry["message"] == "event rejected"]
    assert line["correlation_id"] == broken["id"]
    assert line["field"] == "detail.taskArn" and line["code"] == "invalid_input"
    (accepted,) = [entry for entry in logs.lines if entry["message"] == "event accepted"]
    # A new task writes only its own item(s); index entries and counters come from the stream.
    assert accepted["write_items"] >= 1
    blobs = emf_blobs(capsys.readouterr().out)
    assert metric_values(blobs, "Rejected") == [1.0]
    assert _metric_names(blobs) == {("Rejected", ("service",))}


def test_event_too_large_to_store_is_dropped_not_retried_forever(
    table: Any, emf: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.store import tasks as writer

    monkeypatch.setattr(writer, "MAX_RECORD_BYTES", 100)  # any real record is larger, compressed too
    event = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    result = deliver_event(event)
    assert result["accepted"] is False and result["field"] == "task"
    assert "limit" in result["error"]
    assert metric_values(emf_blobs(capsys.readouterr().out), "Rejected") == [1.0]
