"""The sweeper Lambdas in-process on moto's SQS and Organizations: plan, fan out, work, continue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.observability import metrics
from core.sweep.targets import Target, Unit
from handlers import sweeper, wiring
from taskbeacon.local.lambda_runtime import LocalContext
from tests.sweep.conftest import FastHarness
from tests.sweep.stub import ecs_task, fixture

FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]


class Context(LocalContext):
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="sweep")["QueueUrl"]
        monkeypatch.setenv("SWEEP_QUEUE_URL", url)
        wiring.reset()
        wiring.sweep_clients.cache_clear()
        metrics.clear_metrics()
        yield sqs, url
    wiring.reset()
    wiring.sweep_clients.cache_clear()


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = answer.get("Messages") or []
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch


def test_the_planner_sends_one_message_per_account_region(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    accounts = [f"{n:012d}" for n in range(100000000001, 100000000008)]  # 7 accounts
    monkeypatch.setenv("SWEEP_ACCOUNTS", ",".join(accounts))
    monkeypatch.setenv("SWEEP_REGIONS", "us-east-1,eu-west-1,ap-southeast-2")
    answer = sweeper.plan_handler({}, Context(function_name="plan"))
    assert answer["targets"] == 21 and answer["sent"] == 21
    units = [Unit.from_body(message["Body"]) for message in _drain(sqs, url)]
    assert sorted((u.target.account, u.target.region) for u in units) == sorted(
        (a, r) for a in accounts for r in ("us-east-1", "eu-west-1", "ap-southeast-2")
    )
    assert {u.sweep_id for u in units} == {answer["sweepId"]}
    assert all(u.part == 0 and u.resume is None and not u.closing for u in units)


def test_without_a_list_the_planner_asks_organizations_for_active_accounts(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    monkeypatch.delenv("SWEEP_ACCOUNTS", raising=False)
    monkeypatch.delenv("SWEEP_REGIONS", raising=False)
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    for n in range(3):
        organizations.create_account(AccountName=f"member{n}", Email=f"member{n}@example.com")
    expected = {a["Id"] for a in organizations.list_accounts()["Accounts"] if a["Status"] == "ACTIVE"}
    answer = sweeper.plan_handler({}, Context(function_name="plan"))
    units = [Unit.from_body(message["Body"]) for message in _drain(sqs, url)]
    assert {u.target.account for u in units} == expected and len(expected) == 4  # the management account too
    assert {u.target.region for u in units} == {"us-east-1"}  # the function's own region
    assert answer["sent"] == 4


def _service(fast: FastHarness) -> Any:
    class Service:
        def worker(self) -> Any:
            return fast.worker()

    return Service()


def test_the_worker_sweeps_its_unit_and_queues_the_rest_when_time_runs_low(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, fast: FastHarness
) -> None:
    sqs, url = queue
    target = Target("444455556666", "eu-west-1")
    for n in range(30):
        fast.org.add(
            ecs_task(FARGATE, account=target.account, region=target.region, cluster="c", seed=str(n))
        )
    fast.page_size = 10
    monkeypatch.setattr(wiring, "sweeper", lambda: _service(fast))
    unit = fast.worker_unit(target)
    context = Context(function_name="work")
    # 30.5 s left at first (30 kept in reserve), falling with the simulated clock:
    # one page, then a continuation.
    start = fast.clock.monotonic()
    context.get_remaining_time_in_millis = lambda: int((30.5 - (fast.clock.monotonic() - start)) * 1000)  # type: ignore[method-assign]
    event = {"Records": [{"messageId": "m1", "body": unit.body()}]}
    assert sweeper.work_handler(event, context) == {"batchItemFailures": []}
    (message,) = _drain(sqs, url)
    continuation = Unit.from_body(message["Body"])
    assert continuation.part == 1 and continuation.resume is not None
    assert continuation.resume.next_token is not None and continuation.totals.tasks_seen == 10
    # The next invocation has time: it finishes the unit, queues nothing.
    context.get_remaining_time_in_millis = lambda: 300_000  # type: ignore[method-assign]
    event = {"Records": [{"messageId": "m2", "body": message["Body"]}]}
    assert sweeper.work_handler(event, context) == {"batchItemFailures": []}
    assert _drain(sqs, url) == []
    assert len(fast.inventory.tasks) == 30
    (note,) = fast.coverage.sweeps
    assert (
        note[0:2] == (target.account, target.region) and note[3]["tasksSeen"] == 30 and note[3]["parts"] == 2
    )


def test_a_failing_unit_is_reported_for_redelivery_and_a_bad_message_is_dropped(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, fast: FastHarness
) -> None:
    class Broken:
        def worker(self) -> Any:
            class Worker:
                def run(self, unit: Any, **_: Any) -> Any:
                    raise RuntimeError("DynamoDB unavailable")

            return Worker()

    monkeypatch.setattr(wiring, "sweeper", Broken)
    unit = fast.worker_unit(Target("444455556666", "eu-west-1"))
    event = {
        "Records": [
            {"messageId": "good", "body": unit.body()},
            {"messageId": "bad", "body": json.dumps({"v": 9})},
            {"messageId": "worse", "body": "not json"},
        ]
    }
    answer = sweeper.work_handler(event, Context(function_name="work"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "good"}]}
