"""The paper-sized organization: does one sweep of 500 accounts x 10 regions x 100,000 tasks fit in an hour?

``python -m benchmarks.sweep`` prints the model's table and writes it under ``"sweep"`` in
benchmarks/results/latest.json (other keys kept). Every figure follows from the assumptions below;
tests/sweep/test_paper_sweep.py runs the real worker against the recording ECS stub with a
simulated clock for each unit shape and checks it makes exactly these calls in about this time.

Assumptions (docs/decisions/sweep.md explains each):
- 500 accounts, 10 regions each: 5,000 account-regions, each one queue message and one unit.
- 100,000 running tasks, skewed the way organizations are: 5 large accounts (8,000 tasks: 6,000 in
  a home region over 20 clusters, 2,000 in a second over 10), 45 medium (1,000: 800 over 5
  clusters, 200 over 2), 150 small (100 in one region over 2 clusters), 300 that run no tasks
  (security, logging, sandboxes); every other account-region has no cluster.
- ECS still lists the tasks that stopped within the hour: 5 % of the running ones.
- Each unit makes at most ``RATE`` ECS calls a second (its token bucket), whatever ECS allows.
- Recording one described task: one strongly consistent Query of the task (``READ_S``), and when it
  changed (the first sweep) one conditional write (``WRITE_S``); an unchanged task reads only.
- ``CONCURRENCY`` workers at once (the worker's event source maximum concurrency), each invocation
  ``TIMEOUT_S`` long, of which ``RESERVE_S`` is kept for the last page; ``INVOCATION_S`` per part
  for the start (cold start, AssumeRole, ListClusters' round trip). A continued unit lists its
  clusters again before closing vanished tasks.
"""

from __future__ import annotations

import heapq
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ACCOUNTS = 500
REGIONS = 10
TASKS = 100_000
RATE = 5.0  # ECS calls a second per account-region (SWEEP_CALLS_PER_SECOND)
PAGE = 100  # ListTasks page and DescribeTasks batch
STOPPED_SHARE = 0.05
CONCURRENCY = 50  # infra/sweep.py WORKER_MAX_CONCURRENCY
TIMEOUT_S = 300.0  # infra/functions.py SWEEP_WORKER
RESERVE_S = 30.0  # core/sweep/service.py RESERVE_SECONDS
INVOCATION_S = 1.0
READ_S = 0.006
WRITE_S = 0.012
HOUR = 3600.0


@dataclass(frozen=True)
class Shape:
    """Account-regions alike: how many, and per unit its clusters and tasks."""

    name: str
    units: int
    clusters: int
    running: int  # per unit

    @property
    def stopped(self) -> int:
        return round(self.running * STOPPED_SHARE)

    def per_cluster(self, total: int) -> list[int]:
        """``total`` tasks spread over the clusters as evenly as integers allow."""
        if self.clusters == 0:
            return []
        base, extra = divmod(total, self.clusters)
        return [base + (1 if index < extra else 0) for index in range(self.clusters)]


ORGANIZATION = (
    Shape("large, home region", 5, 20, 6_000),
    Shape("large, second region", 5, 10, 2_000),
    Shape("medium, home region", 45, 5, 800),
    Shape("medium, second region", 45, 2, 200),
    Shape("small", 150, 2, 100),
    Shape("no cluster", ACCOUNTS * REGIONS - 5 - 5 - 45 - 45 - 150, 0, 0),
)


def _pages(count: int) -> int:
    return math.ceil(count / PAGE)


def calls(shape: Shape) -> dict[str, int]:
    """ECS calls of one unit: ListClusters (100 a page), ListTasks per cluster and status (at least
    one page each), DescribeTasks per non-empty page."""
    running, stopped = shape.per_cluster(shape.running), shape.per_cluster(shape.stopped)
    list_tasks = sum(max(1, _pages(r)) + max(1, _pages(s)) for r, s in zip(running, stopped, strict=True))
    describe = sum(_pages(r) + _pages(s) for r, s in zip(running, stopped, strict=True))
    return {
        "ListClusters": max(1, _pages(shape.clusters)),
        "ListTasks": list_tasks,
        "DescribeTasks": describe,
    }


@dataclass(frozen=True)
class UnitModel:
    shape: str
    units: int
    tasks: int  # described per unit (running and recently stopped)
    calls: int
    seconds: float  # wall time of one unit, all parts
    parts: int


def unit_model(shape: Shape, *, unchanged: bool) -> UnitModel:
    """One unit's time: calls spaced 1/RATE apart, each DescribeTasks page followed by recording its
    tasks (the next call waits for the longer of the two), plus each part's start."""
    made = calls(shape)
    total_calls = sum(made.values())
    tasks = shape.running + shape.stopped
    per_task = READ_S + (0.0 if unchanged else WRITE_S)
    spacing = 1.0 / RATE
    seconds = 0.0
    for count in [*shape.per_cluster(shape.running), *shape.per_cluster(shape.stopped)]:
        full, rest = divmod(count, PAGE)
        for page in [PAGE] * full + ([rest] if rest else []):
            seconds += spacing + max(spacing, page * per_task)  # ListTasks, then DescribeTasks + record
        if count == 0:
            seconds += spacing  # the empty ListTasks page
    seconds += made["ListClusters"] * spacing - spacing  # the unit's first call waits for nothing
    work_per_part = TIMEOUT_S - RESERVE_S - INVOCATION_S
    parts = max(1, math.ceil(seconds / work_per_part))
    if parts > 1:  # a continued unit lists every cluster again before closing
        seconds += (made["ListClusters"] + made["ListTasks"]) * spacing
        parts = max(1, math.ceil(seconds / work_per_part))
    seconds += parts * INVOCATION_S
    return UnitModel(shape.name, shape.units, tasks, total_calls, seconds, parts)


def makespan(durations: list[float], workers: int) -> float:
    """Wall time when units take the first free worker in queue order (no ordering assumed)."""
    free = [0.0] * workers
    heapq.heapify(free)
    end = 0.0
    for duration in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + duration)
        end = max(end, start + duration)
    return end


def queue_order(models: list[UnitModel]) -> list[float]:
    """Unit durations in the queue's order: each shape spread evenly through it (accounts sorted by
    id favour no shape; SQS promises no order, and none is needed: see ``wall_bound_seconds``)."""
    keyed = [((index + 0.5) / model.units, model.seconds) for model in models for index in range(model.units)]
    return [seconds for _, seconds in sorted(keyed)]


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, unchanged in (("first", False), ("unchanged", True)):
        models = [unit_model(shape, unchanged=unchanged) for shape in ORGANIZATION]
        durations = queue_order(models)
        wall = makespan(durations, CONCURRENCY)
        longest = max(model.seconds for model in models)
        busy = sum(model.seconds * model.units for model in models)
        tasks = sum(model.tasks * model.units for model in models)
        ecs_calls = sum(model.calls * model.units for model in models)
        populated = [m for m in models if m.tasks]
        populated_calls = sum(m.calls * m.units for m in populated)
        results[label] = {
            "units": sum(model.units for model in models),
            "tasks_described": tasks,
            "ecs_calls": ecs_calls,
            "ecs_calls_per_1000_tasks": round(1000 * ecs_calls / tasks, 1),
            "ecs_calls_per_1000_tasks_populated_only": round(1000 * populated_calls / tasks, 1),
            "write_units_per_1000_tasks": 0 if unchanged else None,
            "worker_seconds": round(busy),
            "longest_unit_seconds": round(longest, 1),
            "wall_seconds": round(wall, 1),
            "wall_bound_seconds": round(busy / CONCURRENCY + longest, 1),  # list scheduling's bound
            "fits_in_an_hour": wall <= HOUR,
            "shapes": [asdict(model) for model in models],
        }
    return results


def report(results: dict[str, Any]) -> str:
    lines = [
        f"sweep of {ACCOUNTS} accounts x {REGIONS} regions x {TASKS:,} running tasks "
        f"({CONCURRENCY} workers, {RATE:g} ECS calls/s per account-region)",
        f"{'shape':<24} {'units':>6} {'tasks':>6} {'calls':>6} {'first s':>8} {'unchanged s':>12}"
        f" {'parts':>6}",
    ]
    first = {s["shape"]: s for s in results["first"]["shapes"]}
    for shape in results["unchanged"]["shapes"]:
        one = first[shape["shape"]]
        lines.append(
            f"{shape['shape']:<24} {shape['units']:>6} {shape['tasks']:>6} {shape['calls']:>6} "
            f"{one['seconds']:>8.1f} {shape['seconds']:>12.1f} {one['parts']:>6}"
        )
    for label in ("first", "unchanged"):
        r = results[label]
        lines.append(
            f"{label:>9} sweep: wall {r['wall_seconds'] / 60:.1f} min "
            f"(bound {r['wall_bound_seconds'] / 60:.1f} min, goal 60), {r['ecs_calls']:,} ECS calls = "
            f"{r['ecs_calls_per_1000_tasks']} per 1,000 tasks "
            f"({r['ecs_calls_per_1000_tasks_populated_only']} without the empty account-regions), "
            f"{r['worker_seconds']:,} worker-seconds"
        )
    lines.append("an unchanged sweep writes 0 write units per 1,000 tasks (newer wins on the ECS version)\n")
    return "\n".join(lines)


def main() -> int:
    results = run()
    print(report(results))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    latest = out / "latest.json"
    stored: dict[str, Any] = {}
    if latest.exists():
        try:
            stored = json.loads(latest.read_text())
        except ValueError:
            stored = {}
    stored["sweep"] = results
    latest.write_text(json.dumps(stored, indent=2, default=str) + "\n")
    print(f"written to {latest}", file=sys.stderr)
    return 0 if all(results[label]["fits_in_an_hour"] for label in ("first", "unchanged")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
