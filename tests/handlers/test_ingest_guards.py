"""Guards around the newer-wins write: clock skew, and the optional ECS DescribeTasks cross-check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.environment import ENV_NAMES
from handlers import wiring
from taskbeacon.local.aws.lambda_context import LocalContext
from taskbeacon.local.aws.principals import PrincipalRegistry
from tests.ecs_fixtures import FIXTURES
from tests.handlers.conftest import ACCOUNT, http


def _task_doc(region: str = "us-east-1") -> tuple[str, dict[str, Any]]:
    task = json.loads((FIXTURES / "v4-task-fargate-docs.json").read_text())
    task["TaskARN"] = f"arn:aws:ecs:{region}:{ACCOUNT}:task/demo/{uuid.uuid4().hex}"
    task["Cluster"] = f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/demo"
    return task["TaskARN"], task


def _body(task: dict[str, Any], collected_at: datetime, status: str = "RUNNING") -> bytes:
    return json.dumps(
        {
            "schemaVersion": 1,
            "source": "tmde-v4",
            "collectedAt": collected_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "sequence": 1,
            "reason": "start",
            "agent": {"version": "test", "mode": "once", "instanceId": "agent-1"},
            "task": {**task, "KnownStatus": status},
        }
    ).encode()


def _task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def test_snapshot_from_the_future_is_refused_and_cannot_freeze_the_record(
    table: Any, principals: PrincipalRegistry
) -> None:
    arn, task = _task_doc()
    now = datetime.now(UTC)
    far = http("POST", "/snapshots", principals.task(arn), _body(task, now + timedelta(days=365)))
    assert far.status == 400 and far.body["error"]["field"] == "collectedAt"
    assert "future" in far.body["error"]["message"]
    assert http("GET", f"/tasks/{_task_id(arn)}", principals.operator()).status == 404
    # A host clock a few minutes fast (SigV4 allows 15) is still accepted, and a later stop wins.
    fast = http("POST", "/snapshots", principals.task(arn), _body(task, now + timedelta(minutes=5)))
    assert fast.status == 202, fast.body
    stop = http(
        "POST", "/snapshots", principals.task(arn), _body(task, now + timedelta(minutes=6), "STOPPED")
    )
    assert stop.status == 202
    assert http("GET", f"/tasks/{_task_id(arn)}", principals.operator()).body["lastStatus"] == "STOPPED"


class FakeEcs:
    """DescribeTasks of one region, in memory: knows the tasks it was given and counts calls."""

    def __init__(self, region: str, known: set[str], clusters: set[str]) -> None:
        self.region, self.known, self.clusters, self.calls = region, known, clusters, 0

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls += 1
        if cluster not in self.clusters:
            error = {"Error": {"Code": "ClusterNotFoundException", "Message": "Cluster not found."}}
            raise ClientError(error, "DescribeTasks")  # type: ignore[arg-type]
        return {"tasks": [{"taskArn": arn} for arn in tasks if arn in self.known], "failures": []}


class AccountContext(LocalContext):
    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function_name}"


@pytest.fixture
def ecs(table: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeEcs]:
    """Cross-check on, with one fake ECS per region behind ``boto3.client('ecs', region_name=...)``."""
    import boto3

    monkeypatch.setenv(ENV_NAMES["describe_tasks_cross_check"], "true")
    wiring.get_settings.cache_clear()
    wiring.verifier.cache_clear()
    regions: dict[str, FakeEcs] = {}
    real_client = boto3.client

    def client(service: str, *args: Any, region_name: str | None = None, **kwargs: Any) -> Any:
        if service != "ecs":
            return real_client(service, *args, region_name=region_name, **kwargs)
        assert region_name is not None, "the ECS client must name the task's region"
        return regions.setdefault(region_name, FakeEcs(region_name, set(), set()))

    monkeypatch.setattr(boto3, "client", client)
    yield regions
    wiring.verifier.cache_clear()


def test_cross_check_asks_ecs_in_the_tasks_region_once_per_task(
    ecs: dict[str, FakeEcs], principals: PrincipalRegistry
) -> None:
    arn, task = _task_doc(region="eu-west-1")
    cluster = task["Cluster"]
    ecs["eu-west-1"] = FakeEcs("eu-west-1", {arn}, {cluster})
    now = datetime.now(UTC)
    context = AccountContext(function_name="taskbeacon-ingest")
    for second in range(3):
        body = _body(task, now + timedelta(seconds=second))
        reply = http("POST", "/snapshots", principals.task(arn), body, context=context)
        assert reply.status == 202, reply.body
    assert ecs["eu-west-1"].calls == 1  # confirmed once, remembered by the warm function
    assert "us-east-1" not in ecs


def test_cross_check_refuses_tasks_and_clusters_ecs_does_not_know(
    ecs: dict[str, FakeEcs], principals: PrincipalRegistry
) -> None:
    known_arn, known = _task_doc()
    invented_arn, invented = _task_doc()
    ecs["us-east-1"] = FakeEcs("us-east-1", {known_arn}, {known["Cluster"]})
    context = AccountContext(function_name="taskbeacon-ingest")
    now = datetime.now(UTC)
    refused = http("POST", "/snapshots", principals.task(invented_arn), _body(invented, now), context=context)
    assert refused.status == 403 and "ECS does not know task" in refused.body["error"]["message"]
    nowhere = {**invented, "Cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/ghost"}
    nowhere["TaskARN"] = invented_arn.replace("/demo/", "/ghost/")
    ghost = http(
        "POST", "/snapshots", principals.task(nowhere["TaskARN"]), _body(nowhere, now), context=context
    )
    assert ghost.status == 403 and "cluster" in ghost.body["error"]["message"]
    for task_arn in (invented_arn, nowhere["TaskARN"]):
        assert http("GET", f"/tasks/{_task_id(task_arn)}", principals.operator()).status == 404
    assert (
        http("POST", "/snapshots", principals.task(known_arn), _body(known, now), context=context).status
        == 202
    )


def test_cross_check_skips_other_accounts(ecs: dict[str, FakeEcs], principals: PrincipalRegistry) -> None:
    arn, task = _task_doc()
    # The local context's function runs in account 000000000000: every task here is "foreign".
    reply = http("POST", "/snapshots", principals.task(arn), _body(task, datetime.now(UTC)))
    assert reply.status == 202 and ecs == {}


def test_cross_check_refuses_regions_where_ecs_does_not_exist(
    ecs: dict[str, FakeEcs], principals: PrincipalRegistry
) -> None:
    arn, task = _task_doc(region="xx-nowhere-9")  # well-formed, but no ECS endpoint
    context = AccountContext(function_name="taskbeacon-ingest")
    reply = http("POST", "/snapshots", principals.task(arn), _body(task, datetime.now(UTC)), context=context)
    assert reply.status == 403 and "unknown region" in reply.body["error"]["message"]
    assert ecs == {}  # no client created, no call attempted


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDeniedException", 403), ("UnrecognizedClientException", 403), ("ServerException", 503)],
)
def test_cross_check_errors_from_ecs_are_answered_not_crashed(
    ecs: dict[str, FakeEcs],
    principals: PrincipalRegistry,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    status: int,
) -> None:
    from botocore.exceptions import ClientError

    arn, task = _task_doc()
    fake = ecs["us-east-1"] = FakeEcs("us-east-1", {arn}, {task["Cluster"]})

    def failing(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "DescribeTasks")  # type: ignore[arg-type]

    monkeypatch.setattr(fake, "describe_tasks", failing)
    context = AccountContext(function_name="taskbeacon-ingest")
    reply = http("POST", "/snapshots", principals.task(arn), _body(task, datetime.now(UTC)), context=context)
    assert reply.status == status, reply.body
    assert http("GET", f"/tasks/{_task_id(arn)}", principals.operator()).status == 404
