"""The paper-sized organization (benchmarks/sweep.py) swept for real against the recording ECS stub.

Each unit shape of the model (a large account's home region: 20 clusters, 6,300 tasks; ... an
account-region without clusters) is swept by the real worker, token bucket and normalizer on the
stub, with a simulated clock in which recording a task costs what the model says. Units of one
shape take the same time, so each shape is run once (first sweep and unchanged sweep), and the
5,000 units are then scheduled on the workers. The measured calls must equal the model's, the
measured times must agree with it, an unchanged sweep must write nothing, and the whole sweep must
fit in an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from benchmarks import sweep as model
from core.sweep.ecs import EcsReader
from core.sweep.ratelimit import TokenBucket
from core.sweep.targets import Target, new_units
from core.sweep.worker import Worker
from tests.store.builders import T0
from tests.sweep.fakes import MemoryInventory
from tests.sweep.stub import FakeOrg, SimClock, as_boto3, ecs_task, fixture

TARGET = Target("123456789012", "us-east-1")
TEMPLATE = fixture("describe-tasks-fargate.json")["tasks"][0]


class FastOrg(FakeOrg):
    """The stub, answering from one parsed template per task (botocore's parser once, not 6,300 times)."""

    _template: Any = None

    def parsed_task(self, task: dict[str, Any]) -> Any:
        if self._template is None:
            self._template = as_boto3("DescribeTasks", {"tasks": [task], "failures": []})["tasks"][0]
        parsed = dict(self._template)  # the worker reads answers, never changes them: shallow is enough
        parsed["containers"] = [dict(container) for container in self._template["containers"]]
        parsed["taskArn"] = task["taskArn"]
        parsed["clusterArn"] = task["clusterArn"]
        parsed["desiredStatus"] = parsed["lastStatus"] = task["desiredStatus"]
        parsed["version"] = task["version"]
        for container, source in zip(parsed["containers"], task["containers"], strict=True):
            container["runtimeId"] = source["runtimeId"]
            container["networkInterfaces"] = source["networkInterfaces"]
        parsed["attachments"] = task["attachments"]
        return parsed


@dataclass
class TimedInventory(MemoryInventory):
    """The in-memory inventory, charging the simulated clock what the model says a record costs."""

    clock: SimClock | None = None

    def apply(self, observation: Any, *, now: datetime | None = None) -> Any:
        outcome = super().apply(observation, now=now)
        assert self.clock is not None
        self.clock.sleep(model.READ_S + (model.WRITE_S if outcome.changed else 0.0))
        return outcome


def _org(shape: model.Shape, clock: SimClock) -> FastOrg:
    org = FastOrg(clock)
    for c, (running, stopped) in enumerate(
        zip(shape.per_cluster(shape.running), shape.per_cluster(shape.stopped), strict=True)
    ):
        cluster = f"cluster-{c}"
        org.add_cluster(TARGET.account, TARGET.region, cluster)
        for n in range(running + stopped):
            desired = "RUNNING" if n < running else "STOPPED"
            task = ecs_task(
                TEMPLATE,
                account=TARGET.account,
                region=TARGET.region,
                cluster=cluster,
                seed=f"{c}/{n}",
                desired=desired,
            )
            org.add(task)
    return org


@dataclass
class Measured:
    seconds: float
    calls: dict[str, int]
    written: int
    write_units: int
    tasks: int
    parts: int


def _sweep(org: FakeOrg, inventory: TimedInventory, clock: SimClock) -> Measured:
    def reader(target: Target, remaining: Any) -> EcsReader:
        bucket = TokenBucket(model.RATE, clock=clock.monotonic, sleep=clock.sleep)
        return EcsReader(
            org.client(target.account, target.region), bucket, remaining=remaining, reserve=model.RESERVE_S
        )

    worker = Worker(readers=reader, recorder=inventory, query=inventory, clock=clock.now)
    (unit,) = new_units([TARGET], now=clock.now())
    before = dict(org.calls)
    start = clock.monotonic()
    parts = 0
    while True:
        parts += 1
        clock.sleep(model.INVOCATION_S)
        deadline = clock.monotonic() - model.INVOCATION_S + model.TIMEOUT_S
        result = worker.run(unit, remaining=lambda end=deadline: end - clock.monotonic())
        if result.continuation is None:
            break
        unit = result.continuation
    calls = {api: org.calls[key] - before.get(key, 0) for key in org.calls for api in [key[2]]}
    return Measured(
        clock.monotonic() - start,
        calls,
        result.totals.written,
        result.totals.write_units,
        result.totals.tasks_seen,
        parts,
    )


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple[Measured, Measured]]:
    """Per shape: (first sweep, unchanged sweep), measured on the stub."""
    out = {}
    for shape in model.ORGANIZATION:
        clock = SimClock(T0)
        org = _org(shape, clock)
        inventory = TimedInventory(clock=clock)
        first = _sweep(org, inventory, clock)
        unchanged = _sweep(org, inventory, clock)
        out[shape.name] = (first, unchanged)
    return out


def test_the_organization_is_the_one_on_paper() -> None:
    assert sum(shape.units for shape in model.ORGANIZATION) == model.ACCOUNTS * model.REGIONS == 5000
    assert sum(shape.units * shape.running for shape in model.ORGANIZATION) == model.TASKS == 100_000


@pytest.mark.parametrize("shape", model.ORGANIZATION, ids=lambda shape: shape.name)
def test_each_unit_makes_the_calls_and_takes_the_time_on_paper(
    shape: model.Shape, measured: dict[str, tuple[Measured, Measured]]
) -> None:
    first, unchanged = measured[shape.name]
    assert first.calls == {api: count for api, count in model.calls(shape).items() if count}
    assert unchanged.calls == first.calls
    assert first.tasks == unchanged.tasks == shape.running + shape.stopped
    assert first.written == first.tasks and unchanged.written == 0 and unchanged.write_units == 0
    for run, unchanged_run in ((first, False), (unchanged, True)):
        paper = model.unit_model(shape, unchanged=unchanged_run)
        assert run.parts == paper.parts
        assert run.seconds == pytest.approx(paper.seconds, rel=0.05, abs=0.5)


def test_the_whole_organization_fits_in_an_hour(measured: dict[str, tuple[Measured, Measured]]) -> None:
    paper = model.run()
    for index, label in enumerate(("first", "unchanged")):
        units = [
            model.UnitModel(shape.name, shape.units, 0, 0, measured[shape.name][index].seconds, 1)
            for shape in model.ORGANIZATION
        ]
        durations = model.queue_order(units)
        wall = model.makespan(durations, model.CONCURRENCY)
        # Whatever order the queue delivers in, list scheduling ends within this bound.
        bound = sum(durations) / model.CONCURRENCY + max(durations)
        assert wall <= bound <= model.HOUR, (label, wall, bound)
        assert wall == pytest.approx(paper[label]["wall_seconds"], rel=0.05)
        assert paper[label]["fits_in_an_hour"]
    calls = sum(sum(measured[s.name][1].calls.values()) * s.units for s in model.ORGANIZATION)
    tasks = sum(measured[s.name][1].tasks * s.units for s in model.ORGANIZATION)
    assert 1000 * calls / tasks == pytest.approx(paper["unchanged"]["ecs_calls_per_1000_tasks"], abs=0.1)
    assert paper["unchanged"]["write_units_per_1000_tasks"] == 0


def test_the_rate_limit_holds_in_the_largest_unit() -> None:
    shape = model.ORGANIZATION[0]
    clock = SimClock(T0)
    org = _org(shape, clock)
    _sweep(org, TimedInventory(clock=clock), clock)
    moments = org.moments[(TARGET.account, TARGET.region)]
    window = 0
    for start in range(len(moments)):
        end = start
        while end < len(moments) and moments[end] < moments[start] + 1.0 - 1e-9:
            end += 1
        window = max(window, end - start)
    assert window <= model.RATE
