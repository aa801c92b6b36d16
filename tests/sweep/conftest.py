"""Fixtures of the sweep suite: a simulated clock, a recording ECS organization, the real store on moto."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from core.sweep.ecs import EcsReader
from core.sweep.ratelimit import TokenBucket
from core.sweep.targets import Target, Unit, new_units
from core.sweep.worker import UnitResult, Worker
from tests.store.builders import T0
from tests.store.inventory import Inventory
from tests.sweep.fakes import MemoryInventory
from tests.sweep.stub import FakeOrg, SimClock

WRITE_CALLS = frozenset(
    {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"}
)


class CountingClient:
    """A DynamoDB client that counts the write calls made through it (reads pass through)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in WRITE_CALLS:

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.writes.append(name)
                return attribute(*args, **kwargs)

            return counted
        return attribute


@dataclass
class FakeCoverage:
    sweeps: list[tuple[str, str, datetime, dict[str, Any]]] = field(default_factory=list)

    def record_sweep(self, account: str, region: str, swept_at: datetime, summary: dict[str, Any]) -> None:
        self.sweeps.append((account, region, swept_at, summary))


@dataclass
class Driver:
    """Runs the sweep's worker on the recording ECS with a simulated clock (subclasses choose the store)."""

    clock: SimClock
    org: FakeOrg
    coverage: FakeCoverage
    rate: float = 5.0
    budget: float = float("inf")  # seconds each invocation may take (simulated)
    jitter: Callable[[], float] = lambda: 0.5
    page_size: int = 100  # ListTasks page (ECS's maximum); smaller pages exercise paging with few tasks

    def reader(self, target: Target, remaining: Callable[[], float]) -> EcsReader:
        bucket = TokenBucket(self.rate, clock=self.clock.monotonic, sleep=self.clock.sleep)
        return EcsReader(
            self.org.client(target.account, target.region),
            bucket,
            remaining=remaining,
            random=self.jitter,
            page_size=self.page_size,
        )

    def worker(self) -> Worker:
        raise NotImplementedError

    def now(self) -> datetime:
        return self.clock.now()

    def run_unit(self, unit: Unit) -> list[UnitResult]:
        """Every part of ``unit``, each with ``budget`` seconds; the results of each part."""
        worker = self.worker()
        results = []
        while True:
            deadline = self.clock.monotonic() + self.budget
            result = worker.run(unit, remaining=lambda end=deadline: end - self.clock.monotonic())
            results.append(result)
            if result.continuation is None:
                return results
            unit = result.continuation

    def worker_unit(self, target: Target) -> Unit:
        (unit,) = new_units([target], now=self.now())
        return unit

    def sweep(self, targets: list[Target]) -> list[UnitResult]:
        finals = []
        for unit in new_units(targets, now=self.now()):
            finals.append(self.run_unit(unit)[-1])
        return finals


@dataclass
class Harness(Driver):
    """The sweep on the recording ECS and the real recorder, indexer and queries on moto DynamoDB."""

    inventory: Inventory = field(default=None)  # type: ignore[assignment]
    client: CountingClient = field(default=None)  # type: ignore[assignment]

    def worker(self) -> Worker:
        return Worker(
            readers=self.reader,
            recorder=self.inventory.recorder,
            query=_SettlingQuery(self.inventory),
            coverage=self.coverage,
            clock=self.now,
        )

    def now(self) -> datetime:
        moment = self.clock.now()
        self.inventory.now = moment  # the readers' clock follows the simulation
        return moment

    def sweep(self, targets: list[Target]) -> list[UnitResult]:
        finals = super().sweep(targets)
        self.inventory.settle()
        return finals


@dataclass
class FastHarness(Driver):
    """The sweep on the recording ECS and an in-memory inventory (tests/sweep/fakes.py)."""

    inventory: MemoryInventory = field(default_factory=MemoryInventory)

    def worker(self) -> Worker:
        return Worker(
            readers=self.reader,
            recorder=self.inventory,
            query=self.inventory,
            coverage=self.coverage,
            clock=self.now,
        )


class _SettlingQuery:
    """The real queries; the table's stream reaches the indexer before each list (as it would within
    seconds in AWS), so what the sweep reads to close vanished tasks follows what it wrote."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def list_tasks(self, *args: Any, **kwargs: Any) -> Any:
        self.inventory.settle()
        return self.inventory.query.list_tasks(*args, **kwargs)


@pytest.fixture
def harness(dynamodb: Any) -> Harness:
    clock = SimClock(T0)
    client = CountingClient(dynamodb)
    inventory = Inventory(client, history_limit=50, now=T0)
    return Harness(
        clock=clock, org=FakeOrg(clock), inventory=inventory, client=client, coverage=FakeCoverage()
    )


@pytest.fixture
def fast() -> FastHarness:
    clock = SimClock(T0)
    return FastHarness(clock=clock, org=FakeOrg(clock), coverage=FakeCoverage())


__all__ = ["CountingClient", "Driver", "FakeCoverage", "FastHarness", "Harness"]
