"""Mutated payloads of every source, end to end: a stored task or a 4xx naming the field, never a 500.

Each recorded payload (TMDE v4/v3/v2, metadata file, introspection, EventBridge) is mutated by
hypothesis (fields dropped, added, retyped, wrapped in junk) and sent through the real ingest or
events handler onto a moto table, as a collector role of the task's account. Every answer is 202
(and then the task reads back), 400 with ``error.field`` naming the bad field, or 403/413; an
exception escaping the handler (API Gateway's 502) fails the test.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.environment import ENV_NAMES
from taskbeacon.local.aws.principals import PrincipalRegistry
from tests.ecs_fixtures import FIXTURES
from tests.handlers.conftest import http
from tests.mutation import json_values, mutate

FUZZ = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
ACCOUNTS = ("111122223333", "012345678910", "111222333444", "123457279990", "601427279990", "803860917211")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def envelope(source: str, **docs: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "source": source,
        "collectedAt": "2026-11-28T09:14:03.123456789Z",
        "sequence": 7,
        "reason": "start",
        "agent": {"version": "0.1.0", "mode": "daemon", "instanceId": "agent-1"},
        **copy.deepcopy(docs),
    }


SOURCES: dict[str, Callable[[], dict[str, Any]]] = {
    "v4-ec2": lambda: envelope(
        "tmde-v4",
        task=load("v4-taskwithtags-ec2-awsvpc.json"),
        container=load("v4-taskwithtags-ec2-awsvpc.json")["Containers"][0],
        stats=load("v4-task-stats-ec2.json"),
    ),
    "v4-fargate": lambda: envelope(
        "tmde-v4",
        task=load("v4-task-fargate-docs.json"),
        container=load("v4-task-fargate-docs.json")["Containers"][0],
    ),
    "v4-bridge": lambda: envelope(
        "tmde-v4", task=load("v4-task-ec2-bridge.json"), stats=load("v4-container-stats-ec2-bridge.json")
    ),
    "v4-managed-instances": lambda: envelope("tmde-v4", tasks=load("v4-tasks-managed-instances.json")),
    "v3": lambda: envelope(
        "tmde-v3", task=load("v3-task-ec2-awsvpc.json"), container=load("v3-container-ec2-awsvpc.json")
    ),
    "v2": lambda: envelope("tmde-v2", task=load("v2-metadata-task-awsvpc.json")),
    "metadata-file": lambda: envelope("metadata-file", task=load("metadata-file-ready-bridge.json")),
    "introspection": lambda: envelope(
        "introspection", tasks=load("introspection-v1-tasks.json")["Tasks"], container=_host_metadata()
    ),
}


def _host_metadata() -> dict[str, Any]:
    """``/v1/metadata`` of the host that ran the recorded ``/v1/tasks`` (the fixture has placeholders)."""
    metadata = load("introspection-v1-metadata.json")
    metadata["Cluster"] = "default"
    metadata["ContainerInstanceArn"] = (
        "arn:aws:ecs:us-west-2:012345678910:container-instance/default/0e5b2bd9f5a44b3a8d2c0e6f7a8b9c0d"
    )
    return metadata


_PATH_PART = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def names_a_place(body: Any, field: str) -> bool:
    """Whether ``field`` (``task.Containers[2].Name``) points into ``body``: every step but the last
    exists (the last may be the missing key), so a 400 names where the problem is, not just anything."""
    if field in ("body", "event"):
        return True
    field = re.sub(r"^(?:body|event)(?=\[)", "", field)  # a root list: body[0]
    steps: list[Any] = [
        json.loads(quoted) if quoted else int(index) if index else key
        for key, index, quoted in _PATH_PART.findall(field)
    ]
    node = body
    for step in steps[:-1]:
        present = (isinstance(node, list) and isinstance(step, int) and step < len(node)) or (
            isinstance(node, dict) and step in node
        )
        if not present:
            return False
        node = node[step]
    return isinstance(node, dict | list)


_VALUES = json_values(max_leaves=6)


def _mutate(data: st.DataObject, doc: Any) -> Any:
    return mutate(data, doc, _VALUES, most=3, deepest_first=True)


@pytest.fixture
def collectors(monkeypatch: pytest.MonkeyPatch, table: Any) -> PrincipalRegistry:
    roles = ",".join(f"arn:aws:iam::{account}:role/taskbeacon-local-collector" for account in ACCOUNTS)
    monkeypatch.setenv(ENV_NAMES["collector_role_arns"], roles)
    from core.settings import get_settings

    get_settings.cache_clear()
    return PrincipalRegistry(ACCOUNTS[0])


def _account_of(body: dict[str, Any]) -> str:
    text = json.dumps(body)
    for account in ACCOUNTS:
        if f":{account}:task/" in text:
            return account
    return ACCOUNTS[0]


def _check_answer(registry: PrincipalRegistry, sent: Any, status: int, body: Any) -> None:
    assert status in (202, 400, 403, 413), body
    if status == 400:
        field = body["error"]["field"]
        assert isinstance(field, str) and names_a_place(sent, field), (field, body)
    elif status == 202:
        for task_id in body["taskIds"]:
            shown = http("GET", f"/tasks/{task_id}", registry.operator())
            assert shown.status == 200, shown.body
            assert shown.body["taskId"] == task_id


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_mutated_snapshots_are_stored_or_refused_naming_the_field(
    collectors: PrincipalRegistry, name: str
) -> None:
    original = SOURCES[name]()
    account = _account_of(original)
    untouched = http("POST", "/snapshots", collectors.collector(account), json.dumps(original).encode())
    assert untouched.status == 202, untouched.body  # the recorded payload itself is accepted

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = _mutate(data, original)
        reply = http("POST", "/snapshots", collectors.collector(account), json.dumps(body).encode())
        _check_answer(collectors, body, reply.status, reply.body)

    run()


_RECENT = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stopped_event() -> dict[str, Any]:
    event = load("eventbridge-task-state-change-fargate-running.json")
    event["detail"].update(
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
        stoppedAt=_RECENT,  # within retention, so the stopped task still reads back
        updatedAt=_RECENT,
        version=9,
    )
    event["detail"]["containers"][0].update(exitCode=1, lastStatus="STOPPED")
    return event


@pytest.mark.parametrize(
    "make", [lambda: load("eventbridge-task-state-change-fargate-running.json"), _stopped_event]
)
def test_mutated_events_are_stored_or_dropped_naming_the_field(
    collectors: PrincipalRegistry, make: Callable[[], dict[str, Any]]
) -> None:
    from handlers import events
    from taskbeacon.local.aws.lambda_context import LocalContext

    original = make()
    assert events.handler(copy.deepcopy(original), LocalContext("taskbeacon-events"))["accepted"] is True

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        event = _mutate(data, original)
        result = events.handler(event, LocalContext("taskbeacon-events"))
        if result["accepted"]:
            shown = http("GET", f"/tasks/{result['taskId']}", collectors.operator())
            # A mutated ARN may give the id to a second account: then the bare id is ambiguous.
            assert shown.status in (200, 409), shown.body
        else:
            assert isinstance(result["field"], str) and names_a_place(event, result["field"]), result

    run()
