"""An in-memory inventory for the sweep tests that are about ECS calls, time and resumption, not storage.

``MemoryInventory`` keeps one task per ARN with the rule the real merge applies to AWS's reports: a
report of a version already stored writes nothing; ``vanished`` closes a record still not stopped.
It answers ``list_tasks`` as ``QueryService`` does (documents, pages, a cursor). The real recorder
and store are exercised in test_sweep_org.py; this one lets a 100,000-task organization run in seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.model.task import Observation, Task
from core.store.tasks import WriteCost


@dataclass(frozen=True)
class Outcome:
    changed: bool
    cost: WriteCost


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass
class MemoryInventory:
    tasks: dict[str, Task] = field(default_factory=dict)
    versions: dict[str, int | None] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)  # per task ARN
    reads: int = 0
    item_bytes: int = 3000  # what one record write costs, roughly (3 write units)

    def apply(self, observation: Observation, *, now: datetime | None = None) -> Outcome:
        self.reads += 1
        arn = observation.task.task_arn
        current = self.tasks.get(arn)
        if observation.reason == "vanished":
            if current is None or current.last_status == "STOPPED":
                return Outcome(False, WriteCost(0, False, 0))
            self.tasks[arn] = observation.task
        else:
            version = observation.event_version or 0
            stored = self.versions.get(arn)
            if stored is not None and version <= stored:
                return Outcome(False, WriteCost(0, False, 0))
            first_seen = current.first_seen_at if current is not None else (now or observation.observed_at)
            self.tasks[arn] = observation.task.model_copy(
                update={"first_seen_at": first_seen, "last_seen_at": observation.observed_at}
            )
            self.versions[arn] = version
        self.writes[arn] += 1
        return Outcome(True, WriteCost(1, False, self.item_bytes))

    def hold(self, task: Task) -> None:
        """A task the inventory already holds (from an agent or an event before the sweep)."""
        self.tasks[task.task_arn] = task

    def list_tasks(
        self, filters: dict[str, str], *, since: Any, limit: int, cursor: str | None, **_: Any
    ) -> Page:
        matching = [
            task
            for _, task in sorted(self.tasks.items())
            if task.account_id == filters.get("accountId", task.account_id)
            and task.region == filters.get("region", task.region)
        ]
        start = int(cursor or 0)
        end = start + limit
        page = [task.model_dump(by_alias=True, mode="json") for task in matching[start:end]]
        return Page(page, str(end) if end < len(matching) else None)


__all__ = ["MemoryInventory"]
