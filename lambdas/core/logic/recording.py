"""Newer wins, per task: decide what one observation changes and write only that task's items.

- A keepalive that repeats the newest snapshot's content: one conditional update of the task's
  small keepalive item, no read (``TaskStore.touch``).
- Anything else: one consistent read of the task's partition, the merge (``core.logic.merge``),
  then one conditional write of what changed; a lost race reads and merges again.
A repeated or older report merges to "no change" and writes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from core.errors import Throttled
from core.logic.lease import first_lease, record_expiry
from core.logic.lifecycle import is_stopped
from core.logic.merge import merge, same_content, snapshot_order_key
from core.logic.provenance import is_confirming
from core.model import Observation, SeenState, TaskRecord, TaskState, task_identity
from core.store.tasks import LostRace, TaskStore, WriteCost, WritePlan

_MAX_RACE_RETRIES = 8


@dataclass(frozen=True)
class WriteOutcome:
    task_id: str
    identity: str
    changed: bool
    kind: str  # "touch" | "record" | "seen" | "record+seen" | "none": what was written
    reads: int
    cost: WriteCost

    @property
    def write_items(self) -> int:
        return self.cost.items


@dataclass(frozen=True)
class _Prepared:
    plan: WritePlan | None
    writes: list[dict[str, Any]]


def _is_keepalive(observation: Observation) -> bool:
    return not is_confirming(observation.source) and observation.reason == "keepalive"


class Recorder:
    def __init__(self, store: TaskStore, *, retention_days: int, history_limit: int):
        self.store = store
        self.retention_days = retention_days
        self.history_limit = history_limit

    def apply(self, observation: Observation, *, now: datetime | None = None) -> WriteOutcome:
        return self.apply_all([observation], now=now)[0]

    def apply_all(
        self, observations: list[Observation], *, now: datetime | None = None
    ) -> list[WriteOutcome]:
        """Every task is read, merged and checked against the size limits before the first write,
        so a request that cannot land writes nothing. Each task's write is then its own; a retry
        of the same request merges the tasks already written to "no change", so it converges."""
        moment = now or datetime.now(UTC)
        prepared = [self._prepare(observation, moment) for observation in observations]
        return [
            self._commit(observation, first, moment)
            for observation, first in zip(observations, prepared, strict=True)
        ]

    def _prepare(self, observation: Observation, now: datetime) -> _Prepared | None:
        """The first read and plan of a full write; None for a keepalive, which tries the cheap path first."""
        if _is_keepalive(observation):
            return None
        return self._read_and_plan(task_identity(observation.task), observation, _content(observation), now)

    def _read_and_plan(
        self, identity: str, observation: Observation, content: str | None, now: datetime
    ) -> _Prepared:
        """One consistent read of the task, the merge, and the writes it makes (size-checked)."""
        plan = self._plan(identity, self.store.load(identity), observation, content, now)
        return _Prepared(plan, self.store.render(plan) if plan else [])

    def _commit(self, observation: Observation, first: _Prepared | None, now: datetime) -> WriteOutcome:
        identity = task_identity(observation.task)
        task_id = observation.task.task_id
        content = _content(observation)
        if first is None and content is not None:
            key = snapshot_order_key(observation)
            expiry = first_lease(now, self.retention_days)
            if self.store.touch(identity, key, content, observation.observed_at, expiry):
                return WriteOutcome(task_id, identity, True, "touch", 0, WriteCost(1, False, 0))
        reads = 0
        for _ in range(_MAX_RACE_RETRIES):
            prepared = first or self._read_and_plan(identity, observation, content, now)
            first = None
            reads += 1
            plan = prepared.plan
            if plan is None:
                return WriteOutcome(task_id, identity, False, "none", reads, WriteCost(0, False, 0))
            try:
                cost = self.store.save(plan, prepared.writes)
            except LostRace:
                continue  # another writer won: read and merge again
            kind = "+".join(name for name, part in (("record", plan.record), ("seen", plan.seen)) if part)
            return WriteOutcome(task_id, identity, True, kind, reads, cost)
        raise Throttled(f"task {task_id} is being written concurrently; retry later", retry_after=1)

    def _plan(
        self, identity: str, state: TaskState, observation: Observation, content: str | None, now: datetime
    ) -> WritePlan | None:
        updated = merge(
            state.record,
            observation,
            now=now,
            history_limit=self.history_limit,
            newest_snapshot_key=state.newest_snapshot_key,
        )
        if updated is None:
            return None
        seen = None
        if not is_confirming(observation.source):  # AWS's reports have no keepalive item
            seen = SeenState(
                snapshot_key=updated.snapshot_key, content_hash=content, seen_at=observation.observed_at
            )
        if state.record is not None and same_content(state.record, updated):
            # Only the order key moved: the small keepalive item takes it (the first keepalive
            # creates it), the record stays.
            return WritePlan(
                identity, state, record=None, seen=seen, seen_expires_at=first_lease(now, self.retention_days)
            )
        if updated.lease_until is None:
            updated = replace(updated, lease_until=first_lease(now, self.retention_days))
        # The keepalive item exists only once a keepalive came (tasks that live past 12 hours): until
        # then a changed snapshot writes its record alone, with no transaction. Once it exists, it
        # must follow the record's content, or a keepalive repeating older content would pass.
        follow = seen if state.seen is not None else None
        return WritePlan(
            identity,
            state,
            record=updated,
            seen=follow,
            expires_at=self.expires_at(updated, now),
            seen_expires_at=first_lease(now, self.retention_days),
        )

    def expires_at(self, record: TaskRecord, now: datetime) -> int | None:
        """Epoch seconds when a stopped task may be forgotten; running tasks never expire."""
        task = record.task
        if not is_stopped(task.last_status):
            return None
        return record_expiry(task.stopped_at or now, record.lease_until, self.retention_days)


def _content(observation: Observation) -> str | None:
    """The content hash of a snapshot; AWS's reports (events, the sweep) have none: they never touch
    the keepalive item, so they write the record alone, with no transaction."""
    return None if is_confirming(observation.source) else content_hash(observation)


def content_hash(observation: Observation) -> str:
    """What a snapshot says about its task: equal hashes mean a keepalive repeats it exactly."""
    text = f"{observation.source}\n{observation.reporter}\n{observation.task.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]
