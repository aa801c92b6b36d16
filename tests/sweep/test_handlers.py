"""The sweeper Lambdas in-process: plan, fan out (asynchronous invocations, recorded by a fake Lambda
client), work, continue; Organizations on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.environment import ENV_NAMES
from core.observability import metrics
from core.sweep.targets import Target, Unit
from handlers import sweeper, wiring
from taskbeacon.local.aws.lambda_context import LocalContext
from tests.sweep.conftest import FastHarness
from tests.sweep.stub import ecs_task, fixture

FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]
WORKER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:TaskBeacon-SweepWorker"


class Context(LocalContext):
    remaining_ms: int = 300_000
    arn: str | None = None

    @property
    def invoked_function_arn(self) -> str:
        return self.arn or super().invoked_function_arn

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class FakeLambda:
    """Records asynchronous invocations the way Lambda's Invoke answers them (202: queued)."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        return {"StatusCode": 202}

    def units(self, function: str | None = None) -> list[Unit]:
        found = []
        for call in self.invocations:
            assert call["InvocationType"] == "Event"
            if function is not None:
                assert call["FunctionName"] == function
            found.append(Unit.from_body(call["Payload"].decode("utf-8")))
        self.invocations.clear()
        return found


@pytest.fixture
def invoked(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv(ENV_NAMES["sweep_worker_function"], WORKER_ARN)
    fake = FakeLambda()
    with mock_aws():
        wiring.reset()
        wiring.sweep_clients.cache_clear()
        monkeypatch.setattr(wiring.sweep_clients(), "lambda_", lambda: fake)
        metrics.clear_metrics()
        yield fake
    wiring.reset()
    wiring.sweep_clients.cache_clear()


def _worker_context(arn: str = WORKER_ARN) -> Context:
    context = Context(function_name="work")
    context.arn = arn
    return context


def test_the_planner_invokes_the_worker_once_per_account_region(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = [f"{n:012d}" for n in range(100000000001, 100000000008)]  # 7 accounts
    monkeypatch.setenv(ENV_NAMES["sweep_accounts"], ",".join(accounts))
    monkeypatch.setenv(ENV_NAMES["sweep_regions"], "us-east-1,eu-west-1,ap-southeast-2")
    answer = sweeper.plan_handler({}, Context(function_name="plan"))
    assert answer["targets"] == 21 and answer["sent"] == 21
    assert len(invoked.invocations) == 21  # one each, nothing batched
    units = invoked.units(WORKER_ARN)
    assert sorted((u.target.account, u.target.region) for u in units) == sorted(
        (a, r) for a in accounts for r in ("us-east-1", "eu-west-1", "ap-southeast-2")
    )
    assert {u.sweep_id for u in units} == {answer["sweepId"]}
    assert all(u.part == 0 and u.resume is None and not u.closing for u in units)


def test_the_planner_needs_the_worker_function(invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_NAMES["sweep_worker_function"], "")
    monkeypatch.setenv(ENV_NAMES["sweep_accounts"], "111111111111")
    wiring.reset()
    with pytest.raises(RuntimeError, match="SWEEP_WORKER_FUNCTION"):
        sweeper.plan_handler({}, Context(function_name="plan"))
    assert invoked.invocations == []


def test_an_invocation_lambda_refuses_fails_the_planning_run(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_NAMES["sweep_accounts"], "111111111111,222222222222")
    monkeypatch.setattr(invoked, "invoke", lambda **_: {"StatusCode": 500})
    with pytest.raises(RuntimeError, match="did not queue"):
        sweeper.plan_handler({}, Context(function_name="plan"))


def test_without_a_list_the_planner_asks_organizations_for_active_accounts(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_NAMES["sweep_accounts"], raising=False)
    monkeypatch.delenv(ENV_NAMES["sweep_regions"], raising=False)
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    for n in range(3):
        organizations.create_account(AccountName=f"member{n}", Email=f"member{n}@example.com")
    expected = {a["Id"] for a in organizations.list_accounts()["Accounts"] if a["Status"] == "ACTIVE"}
    answer = sweeper.plan_handler({}, Context(function_name="plan"))
    units = invoked.units(WORKER_ARN)
    assert {u.target.account for u in units} == expected and len(expected) == 4  # the management account too
    assert {u.target.region for u in units} == {"us-east-1"}  # the function's own region
    assert answer["sent"] == 4


def _service(fast: FastHarness) -> Any:
    class Service:
        def worker(self) -> Any:
            return fast.worker()

    return Service()


def test_the_worker_sweeps_its_unit_and_invokes_itself_with_the_rest_when_time_runs_low(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch, fast: FastHarness
) -> None:
    target = Target("444455556666", "eu-west-1")
    for n in range(30):
        fast.org.add(
            ecs_task(FARGATE, account=target.account, region=target.region, cluster="c", seed=str(n))
        )
    fast.page_size = 10
    monkeypatch.setattr(wiring, "sweeper", lambda: _service(fast))
    unit = fast.worker_unit(target)
    # Invoked through a version: the continuation goes to the unqualified ARN (what its role may invoke).
    context = _worker_context(f"{WORKER_ARN}:7")
    # 30.5 s left at first (30 kept in reserve), falling with the simulated clock:
    # one page, then a continuation.
    start = fast.clock.monotonic()
    context.get_remaining_time_in_millis = lambda: int((30.5 - (fast.clock.monotonic() - start)) * 1000)  # type: ignore[method-assign]
    # The event is the unit itself (the asynchronous payload, parsed by Lambda).
    answer = sweeper.work_handler(json.loads(unit.body()), context)
    assert answer == {"done": False, "continued": True}
    (continuation,) = invoked.units(WORKER_ARN)
    assert continuation.part == 1 and continuation.resume is not None
    assert continuation.resume.next_token is not None and continuation.totals.tasks_seen == 10
    # The next invocation has time: it finishes the unit, invokes nothing.
    context.get_remaining_time_in_millis = lambda: 300_000  # type: ignore[method-assign]
    answer = sweeper.work_handler(json.loads(continuation.body()), context)
    assert answer == {"done": True, "continued": False}
    assert invoked.invocations == []
    assert len(fast.inventory.tasks) == 30
    (note,) = fast.coverage.sweeps
    assert (
        note[0:2] == (target.account, target.region) and note[3]["tasksSeen"] == 30 and note[3]["parts"] == 2
    )


class _Result:
    def __init__(self, unit: Unit, *, pushed_back: bool) -> None:
        self.continuation = Unit(unit.target, unit.sweep_id, unit.started_at, part=unit.part + 1)
        self.pushed_back = pushed_back
        self.done = False
        self.error = None
        self.totals = unit.totals


@pytest.mark.parametrize(("remaining_ms", "pause"), [(300_000, 5.0), (12_000, 2.0), (9_000, None)])
def test_after_throttling_the_continuation_waits_a_few_seconds_if_time_allows(
    invoked: FakeLambda,
    monkeypatch: pytest.MonkeyPatch,
    fast: FastHarness,
    remaining_ms: int,
    pause: float | None,
) -> None:
    class Throttled:
        def worker(self) -> Any:
            class Worker:
                def run(self, unit: Unit, **_: Any) -> Any:
                    return _Result(unit, pushed_back=True)

            return Worker()

    slept: list[float] = []
    monkeypatch.setattr(sweeper, "_sleep", slept.append)
    monkeypatch.setattr(wiring, "sweeper", Throttled)
    unit = fast.worker_unit(Target("444455556666", "eu-west-1"))
    context = _worker_context()
    context.remaining_ms = remaining_ms
    sweeper.work_handler(json.loads(unit.body()), context)
    assert slept == ([] if pause is None else [pytest.approx(pause)])
    (continuation,) = invoked.units(WORKER_ARN)  # re-invoked either way
    assert continuation.part == unit.part + 1


def test_a_failing_unit_raises_for_lambda_to_retry(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch, fast: FastHarness
) -> None:
    class Broken:
        def worker(self) -> Any:
            class Worker:
                def run(self, unit: Any, **_: Any) -> Any:
                    raise RuntimeError("DynamoDB unavailable")

            return Worker()

    monkeypatch.setattr(wiring, "sweeper", Broken)
    unit = fast.worker_unit(Target("444455556666", "eu-west-1"))
    # Lambda retries the event twice, then sends it to the on-failure destination (infra/sweep.py).
    with pytest.raises(RuntimeError, match="DynamoDB unavailable"):
        sweeper.work_handler(json.loads(unit.body()), _worker_context())
    assert invoked.invocations == []


@pytest.mark.parametrize(
    "event",
    [
        {"v": 9},
        {"v": 1, "account": "not-an-account", "region": "eu-west-1"},
        {"Records": [{"messageId": "m1", "body": "{}"}]},  # an SQS-shaped event: not a unit
        "not an object",
        None,
    ],
)
def test_a_bad_event_is_logged_and_dropped(
    invoked: FakeLambda, monkeypatch: pytest.MonkeyPatch, event: Any
) -> None:
    ran: list[Any] = []

    class Recording:
        def worker(self) -> Any:
            class Worker:
                def run(self, unit: Any, **_: Any) -> Any:
                    ran.append(unit)
                    raise AssertionError("a bad event never runs")

            return Worker()

    monkeypatch.setattr(wiring, "sweeper", Recording)
    answer = sweeper.work_handler(event, _worker_context())  # returns: never retried
    assert "dropped" in answer
    assert ran == [] and invoked.invocations == []
