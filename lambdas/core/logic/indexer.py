"""Derived state from the table's stream: index entries and summary counters, exact under replays.

For each task in a batch, only its newest change counts. The task's marker (written by the indexer
alone) says which revision has been applied, which entries exist and which counters the task adds
one to. So:
- a duplicate or replayed record (revision not above the marker's) changes nothing;
- entries are the difference between what the marker lists and what the new revision wants;
- counter deltas are aggregated over the batch, one ``ADD`` per group into one counter shard;
- after a partial failure, each marker records exactly what landed, and the batch is reported
  failed from the first unfinished task, so the retry applies only what is missing;
- a change whose planning raises (a record the code cannot index: a poison record) is left out and
  returned in ``BatchResult.poisoned``; everything else in the batch is applied. What the batch then
  answers Lambda is the handler's decision (handlers/indexer.py).
Records of different tasks on different shards touch disjoint entries and commutative counters.

``pending`` answers, with the same planning, whether a stored record still has something to derive
(``taskbeacon reindex`` asks it of every task it is given, core/logic/reindex.py).
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.errors import Throttled, Unavailable
from core.logic.indexing import index_items, summary_contributions
from core.model import CounterKey, IndexedState, IndexItem, StoredTask, StreamChange
from core.store import keys
from core.store.index_writer import IndexStore
from core.vocabulary import EVENT


@dataclass
class _TaskPlan:
    change: StreamChange
    before: IndexedState
    wanted: dict[str, IndexItem]
    sums: frozenset[CounterKey]
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
    counter_updates: int
    skipped: int  # duplicates and replays
    poisoned: tuple[Poisoned, ...] = ()  # left out of the batch; the rest was applied


class EventMarks(Protocol):
    """Where the indexer notes that an account-region sends events (core.store.coverage)."""

    def mark_events(self, latest: dict[tuple[str, str], datetime]) -> int: ...


class Indexer:
    def __init__(
        self,
        store: IndexStore,
        *,
        choose_shard: Callable[[], int] | None = None,
        event_marks: EventMarks | None = None,
    ):
        self.store = store
        self.event_marks = event_marks
        # Each batch adds into one random counter shard, so a group's updates spread evenly.
        self.choose_shard = choose_shard or (lambda: random.randrange(keys.COUNTER_SHARDS))  # noqa: S311

    def apply(self, changes: list[StreamChange]) -> BatchResult:
        newest, reborn = _newest_per_task(changes)
        markers = self.store.load_markers(newest)
        plans: list[_TaskPlan] = []
        poisoned: list[Poisoned] = []
        skipped = len(changes) - len(newest)
        for identity, change in newest.items():
            before = markers.get(identity)
            # A new life restarts revisions at 1: the old marker's revision says nothing about it.
            if identity not in reborn and _already_applied(change, before):
                skipped += 1
                continue
            try:
                plans.append(plan_change(change, before or IndexedState()))
            except Exception as error:  # planning is pure: its error is this record's own, every time
                poisoned.append(Poisoned(change.sequence, identity, f"{type(error).__name__}: {error}"))

        failed_refs = self.store.write_entries(
            [item for plan in plans for item in plan.puts],
            [ref for plan in plans for ref in plan.deletes],
        )
        deltas: Counter[CounterKey] = Counter()
        for plan in plans:
            for group in plan.sums - plan.before.sums:
                deltas[group] += 1
            for group in plan.before.sums - plan.sums:
                deltas[group] -= 1
        moved = {group: delta for group, delta in deltas.items() if delta}
        failed_groups = self.store.add_counters(moved, self.choose_shard()) if moved else set()

        markers_after: dict[str, IndexedState] = {}
        removed: list[str] = []
        unfinished: list[str] = []
        for plan in plans:
            state, complete = _applied_state(plan, failed_refs, failed_groups)
            if not complete:
                unfinished.append(plan.change.sequence)
            if complete and plan.change.new is None:
                removed.append(plan.change.identity)
            elif plan.puts or plan.deletes or plan.sums != plan.before.sums:
                markers_after[plan.change.identity] = state
            # else: nothing derived changed; the marker keeps its revision, and a replay of this
            # record would derive the same entries again, so leaving it costs no exactness.
        if markers_after or removed:
            self.store.save_markers(markers_after, removed)
        self._mark_events(changes)
        return BatchResult(
            failed_sequences=sorted(unfinished, key=_sequence_order)[:1],
            tasks=len(plans),
            entries_written=sum(len(plan.puts) for plan in plans),
            entries_deleted=sum(len(plan.deletes) for plan in plans),
            counter_updates=len(moved),
            skipped=skipped,
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


def plan_change(change: StreamChange, before: IndexedState) -> _TaskPlan:
    """What one change of a task derives, against what its marker says is already there."""
    if change.new is None:
        wanted: dict[str, IndexItem] = {}
        sums: frozenset[CounterKey] = frozenset()
    else:
        wanted = index_items(change.new.task, change.identity, change.expires_at)
        sums = summary_contributions(change.new.task)
    plan = _TaskPlan(change, before, wanted, sums)
    plan.puts = [item for ref, item in wanted.items() if before.entries.get(ref) != item.digest]
    if change.new is None and before.revision == change.removed_revision:
        # TTL removed the record of a stopped task whose entries were all written with the same
        # expiry: TTL removes them too, for free. Only a marker that lagged needs deletes.
        plan.deletes = []
    else:
        plan.deletes = [ref for ref in before.entries if ref not in wanted]
    return plan


def pending(stored: StoredTask, marker: IndexedState | None) -> bool:
    """Whether the indexer has still to derive something from this stored record: an entry its
    marker does not list (or lists with other content), one it lists that the record no longer
    wants, or another set of counters. The marker's revision is not compared: it lags on purpose
    after a change that derived nothing new."""
    change = StreamChange(stored.identity, "", stored.record, stored.expires_at)
    plan = plan_change(change, marker or IndexedState())
    return bool(plan.puts or plan.deletes or plan.sums != plan.before.sums)


def _newest_per_task(changes: list[StreamChange]) -> tuple[dict[str, StreamChange], set[str]]:
    """Each task's newest change (stream order), and the tasks removed then written again here."""
    newest: dict[str, StreamChange] = {}
    reborn: set[str] = set()  # a new life: revisions restart at 1
    for change in changes:
        if change.new is None:
            reborn.discard(change.identity)
        elif change.identity in newest and newest[change.identity].new is None:
            reborn.add(change.identity)
        newest[change.identity] = change
    return newest, reborn


def _already_applied(change: StreamChange, before: IndexedState | None) -> bool:
    if change.new is None:
        return before is None  # removed, and nothing of it is left
    return before is not None and change.new.revision <= before.revision


def _applied_state(
    plan: _TaskPlan, failed_refs: set[str], failed_groups: set[CounterKey]
) -> tuple[IndexedState, bool]:
    """The marker after this batch: exactly what landed, so a retry does only the rest."""
    entries = dict(plan.before.entries)
    for item in plan.puts:
        if item.ref not in failed_refs:
            entries[item.ref] = item.digest
    for ref in plan.deletes:
        if ref not in failed_refs:
            entries.pop(ref, None)
    sums = set(plan.before.sums)
    for group in plan.sums - plan.before.sums:
        if group not in failed_groups:
            sums.add(group)
    for group in plan.before.sums - plan.sums:
        if group not in failed_groups:
            sums.discard(group)
    wanted = {ref: item.digest for ref, item in plan.wanted.items()}
    # After a removal whose entries expire by TTL, nothing is left to do.
    complete = (entries == wanted or (plan.change.new is None and not plan.deletes)) and sums == plan.sums
    new = plan.change.new
    revision = new.revision if complete and new is not None else plan.before.revision
    return IndexedState(revision=revision, entries=entries, sums=frozenset(sums)), complete


def _sequence_order(sequence: str) -> tuple[int, str]:
    return (int(sequence), sequence) if sequence.isdigit() else (0, sequence)
