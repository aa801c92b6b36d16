"""Derived state from the table's stream: index entries follow each task's record.

For each task in a batch, its record is read as it is now (one consistent BatchGetItem for the
batch), and the entries the record wants are compared with every image the batch holds of it (the
record before its first change, and after each change):
- an entry is put unless every one of those images already wanted it, with the same content;
- an entry any of them wanted that the record no longer wants is deleted.
Puts and deletes are idempotent, and each task's changes reach one indexer at a time in order:
- a duplicate, or a record replayed after newer ones, converges on what the record wants now;
- a batch retried after a partial failure (reported from the first unfinished task's first record,
  so the retry holds every image an earlier attempt acted on) puts back anything an earlier
  attempt deleted, and deletes what it put;
- halves of a bisected batch apply in order, each from the image before it.
No marker is kept: an entry is written when the task gains it and never again (entries expire with
the task's lease, core.logic.lease), except ``live``, which follows status, images and sources. A
task whose record is gone (TTL) derives nothing: its entries expire with it.

A change whose planning raises (a record the code cannot index: a poison record) is left out and
returned in ``BatchResult.poisoned``; everything else in the batch is applied. What the batch then
answers Lambda is the handler's decision (handlers/indexer.py).

``wanted`` gives, with the same planning, the entries a stored record should have (``taskbeacon
reindex`` compares them with what is stored, core/logic/reindex.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.errors import Throttled, Unavailable
from core.logic.indexing import wanted_entries
from core.model import IndexItem, StreamChange, TaskRecord
from core.store.index import IndexStore, placed
from core.store.tasks import TaskStore
from core.vocabulary import EVENT


@dataclass
class _TaskPlan:
    sequences: list[str]
    puts: list[IndexItem] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Poisoned:
    """A change the indexer cannot plan: the same record fails the same way on every retry."""

    sequence: str
    identity: str
    reason: str


@dataclass(frozen=True)
class BatchResult:
    failed_sequences: list[str]  # to report as batchItemFailures (the lowest is where Lambda resumes)
    tasks: int
    entries_written: int
    entries_deleted: int
    skipped: int  # changes that derived nothing (duplicates, replays, removals)
    poisoned: tuple[Poisoned, ...] = ()  # left out of the batch; the rest was applied


class EventMarks(Protocol):
    """Where the indexer notes that an account-region sends events (core.store.coverage)."""

    def mark_events(self, latest: dict[tuple[str, str], datetime]) -> int: ...


class ChangeEvents(Protocol):
    """Where the indexer publishes the runs' change events (core.logic.publishing)."""

    def publish(self, runs: dict[str, list[StreamChange]]) -> set[str]: ...


class Indexer:
    def __init__(
        self,
        tasks: TaskStore,
        index: IndexStore,
        *,
        event_marks: EventMarks | None = None,
        change_events: ChangeEvents | None = None,
    ):
        self.tasks = tasks
        self.index = index
        self.event_marks = event_marks
        self.change_events = change_events

    def apply(self, changes: list[StreamChange]) -> BatchResult:
        plans: list[_TaskPlan] = []
        planned: dict[str, list[StreamChange]] = {}
        poisoned: list[Poisoned] = []
        runs = _runs_per_task(changes)
        current = self.tasks.current_records(list(runs))
        for identity, run in runs.items():
            record = current.get(identity)
            if record is None:
                continue  # gone since: its entries expire with its lease
            try:
                if isinstance(record, Exception):
                    raise record
                plans.append(plan_run(run, record))
                planned[identity] = run
            except Exception as error:  # planning is pure: its error is this record's own, every time
                poisoned.append(Poisoned(run[-1].sequence, identity, f"{type(error).__name__}: {error}"))
        failed_refs = self.index.write_entries(
            [item for plan in plans for item in plan.puts],
            [ref for plan in plans for ref in plan.deletes],
        )
        unfinished = [
            plan.sequences[0]
            for plan in plans
            if failed_refs & ({item.ref for item in plan.puts} | set(plan.deletes))
        ]
        # Change events out (docs/events.md): a task whose events did not land is unfinished too.
        unpublished = self.change_events.publish(planned) if self.change_events is not None else set()
        unfinished += [run[0].sequence for identity, run in planned.items() if identity in unpublished]
        self._mark_events(changes)
        return BatchResult(
            failed_sequences=sorted(unfinished, key=_sequence_order)[:1],
            tasks=len(plans),
            entries_written=sum(len(plan.puts) for plan in plans),
            entries_deleted=sum(len(plan.deletes) for plan in plans),
            skipped=sum(1 for plan in plans if not plan.puts and not plan.deletes)
            + len(changes)
            - sum(len(plan.sequences) for plan in plans),
            poisoned=tuple(poisoned),
        )

    def _mark_events(self, changes: list[StreamChange]) -> None:
        """GET /coverage's "last event" per account and region: the newest event seen in the batch.
        Best effort: a pushed-back mark is retried by the next event, never by failing the batch."""
        if self.event_marks is None:
            return
        latest: dict[tuple[str, str], datetime] = {}
        for change in changes:
            task = change.new.task if change.new is not None else None
            if task is None or task.last_source != EVENT or task.last_seen_at is None:
                continue
            key = (task.account_id, task.region)
            if key not in latest or task.last_seen_at > latest[key]:
                latest[key] = task.last_seen_at
        with contextlib.suppress(Throttled, Unavailable):
            self.event_marks.mark_events(latest)


def wanted(record: TaskRecord, identity: str) -> dict[str, IndexItem]:
    """Every entry a stored record should have, by reference: logic says which (``wanted_entries``),
    the store where they live (``placed``), each expiring at the record's lease."""
    return placed(wanted_entries(record.task), identity, record.lease_until)


def plan_run(run: list[StreamChange], current: TaskRecord) -> _TaskPlan:
    """What one task's run of changes (in stream order, none a removal) derives, toward the record
    as it is now."""
    images: list[TaskRecord | None] = [run[0].old, *(change.new for change in run)]
    identity = run[0].identity
    want = wanted(current, identity)
    earlier = [wanted(image, identity) if image is not None else {} for image in images]
    forced = any((before.reindex_mark if before else None) != current.reindex_mark for before in images)
    plan = _TaskPlan([change.sequence for change in run])
    plan.puts = [
        item
        for ref, item in want.items()
        if forced or any(ref not in entries or entries[ref].digest != item.digest for entries in earlier)
    ]
    plan.deletes = sorted({ref for entries in earlier for ref in entries if ref not in want})
    return plan


def _runs_per_task(changes: list[StreamChange]) -> dict[str, list[StreamChange]]:
    """Each task's changes since its last removal in the batch, in stream order. A removal (TTL, the
    record's life ended) derives nothing: its entries expire with it; a write after it is a new
    life, whose old image is None."""
    runs: dict[str, list[StreamChange]] = {}
    for change in changes:
        if change.new is None:
            runs.pop(change.identity, None)
            continue
        runs.setdefault(change.identity, []).append(change)
    return runs


def _sequence_order(sequence: str) -> tuple[int, str]:
    return (int(sequence), sequence) if sequence.isdigit() else (0, sequence)
