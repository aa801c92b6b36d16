"""The sweep's parts put together: member-role ECS readers, the worker, and an in-process run.

The Lambda handlers (``handlers/sweeper.py``) fan units out as asynchronous invocations; local mode and the
tests run them here, in-process, every part of a unit one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from core.sweep.ecs import EcsReader, member_ecs_client
from core.sweep.ratelimit import TokenBucket
from core.sweep.targets import Target, Unit, new_units
from core.sweep.worker import CoverageRecorder, UnitResult, Worker

# What must stay free of an invocation's time after an ECS call: recording a page of 100 tasks
# (about 2 s at DynamoDB's usual latency) with a wide margin.
RESERVE_SECONDS = 30.0
MAX_PARTS = 1000  # an in-process run gives up on a unit that would need more (it never should)


class SweepService:
    def __init__(
        self,
        *,
        recorder: Any,
        query: Any,
        coverage: CoverageRecorder | None,
        role_name: str,
        calls_per_second: float,
        sts: Callable[[], Any],
        ecs_endpoint: str | None = None,
        reserve: float = RESERVE_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        client_hook: Callable[[Any], Any] | None = None,
    ) -> None:
        """``client_hook``: given each member ECS client, returns the one to read with (local mode
        answers the drift calls moto lacks this way: taskbeacon/local/service_revisions.py)."""
        self.recorder = recorder
        self.query = query
        self.coverage = coverage
        self.role_name = role_name
        self.calls_per_second = calls_per_second
        self.sts = sts
        self.ecs_endpoint = ecs_endpoint
        self.reserve = reserve
        self.clock = clock
        self.client_hook = client_hook

    def reader(self, target: Target, remaining: Callable[[], float]) -> EcsReader:
        """ECS of ``target`` through its member role, at ``calls_per_second`` (a fresh bucket per unit)."""
        client = member_ecs_client(
            target.account, target.region, self.role_name, sts=self.sts(), endpoint_url=self.ecs_endpoint
        )
        if self.client_hook is not None:
            client = self.client_hook(client)
        return EcsReader(
            client, TokenBucket(self.calls_per_second), remaining=remaining, reserve=self.reserve
        )

    def worker(self) -> Worker:
        return Worker(
            readers=self.reader,
            recorder=self.recorder,
            query=self.query,
            coverage=self.coverage,
            clock=self.clock,
        )

    def sweep_now(self, targets: Iterable[Target]) -> list[UnitResult]:
        """Every target, every part, in this process (no queue): what ``POST /_local/sweep`` runs."""
        worker = self.worker()
        results = []
        for unit in new_units(targets, now=self.clock()):
            result = worker.run(unit)
            parts = 1
            while result.continuation is not None and parts < MAX_PARTS:
                result = worker.run(result.continuation)
                parts += 1
            results.append(result)
        return results


def summary(results: list[UnitResult]) -> dict[str, Any]:
    """Per target and in total: tasks seen, written, closed, calls (what local mode answers)."""
    per_target = []
    total: dict[str, int] = {}
    for result in results:
        counts = result.totals.as_dict()
        entry: dict[str, Any] = {
            "accountId": result.unit.target.account,
            "region": result.unit.target.region,
            **counts,
            "done": result.done,
        }
        if result.error:
            entry["error"] = result.error
        per_target.append(entry)
        for name, value in counts.items():
            total[name] = total.get(name, 0) + value
    return {"targets": per_target, "total": total}


__all__ = ["SweepService", "Unit", "summary"]
