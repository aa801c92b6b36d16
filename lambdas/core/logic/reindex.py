"""Re-derive tasks' index entries from their stored records (``taskbeacon reindex``).

Which tasks: those named in the indexer's on-failure queue (core/logic/failures.py), given by ARN,
or every task of a cluster or an account. A cluster's or an account's tasks are read from their
index partitions (``IX#cluster#<arn>``, ``IX#clusterName#<name>``, ``IX#accountId#<id>``, all shards),
the partitions ``GET /tasks?cluster=`` reads: a ``Query`` per shard, never a Scan. A task that has
never been indexed at all has no entry there; only the failure queue (or ``--task``) names it.

How: for each task, its record is read, and the entries the indexer's own planning wants for it
(``core.logic.indexer.wanted``) are read by key. A task whose every entry is there, as the record
wants it, is in sync and left alone: nothing is written, so running reindex again changes nothing.
For a task out of sync, the record's revision and reindex mark are moved on (one conditional
``UpdateItem``, content untouched), and the table's stream brings the record back to the indexer,
which puts every entry the record wants when the mark moved. The indexer stays the only writer of
entries; puts are idempotent, so a reindex racing the live indexer (or another reindex) converges.
Then reindex waits until the tasks it moved are in sync, and says which are not.

Records are read from the table, not the stream, so this works at any time; the stream only carries
the moved mark to the indexer. An entry the record no longer wants (a delete that was lost) is not
found this way: it expires with the task's lease (core.logic.lease).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.logic.failures import StreamRange
from core.logic.indexer import wanted
from core.logic.indexing import CLUSTER_NAME_KIND, cluster_name_of
from core.model import StoredTask
from core.store import index, keys
from core.store.index import IndexStore
from core.store.records import stored_task
from core.store.schema import PARTITION_KEY, SORT_KEY
from core.store.tasks import TaskStore

_CHUNK = 100  # tasks per read: BatchGetItem takes 100 keys
_PAGE = 500  # index entries per Query page while listing a cluster or an account
_STREAM_READ_LIMIT = 1000  # GetRecords' own maximum
_EMPTY_READS = 5  # an open shard answers empty pages at its tip: stop after this many in a row
_MAX_STREAM_READS = 2000


class RangeUnreadable(Exception):
    """The stream no longer holds (or never held) the records of an on-failure range."""


@dataclass
class ReindexReport:
    checked: int = 0
    in_sync: list[str] = field(default_factory=list)  # nothing to derive: nothing written
    requested: list[str] = field(default_factory=list)  # revision moved on for the indexer
    changed: list[str] = field(default_factory=list)  # changed meanwhile: the indexer takes that change
    settled: list[str] = field(default_factory=list)  # requested or changed, and now in sync
    unsettled: list[str] = field(default_factory=list)  # still out of sync when the wait ended
    pending: list[str] = field(default_factory=list)  # out of sync, left alone (dry run)
    gone: list[str] = field(default_factory=list)  # no record (removed by TTL, or never written)
    unreadable: dict[str, str] = field(default_factory=dict)  # identity -> why its record cannot be read

    @property
    def ok(self) -> bool:
        """Every task given is in sync (or has no record left to index)."""
        return not (self.unsettled or self.pending or self.unreadable)

    def body(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "inSync": len(self.in_sync),
            "requested": len(self.requested),
            "changedMeanwhile": len(self.changed),
            "settled": len(self.settled),
            "gone": sorted(self.gone),
            "unsettled": sorted(self.unsettled),
            "pending": sorted(self.pending),
            "unreadable": dict(sorted(self.unreadable.items())),
        }


class Reindexer:
    def __init__(
        self,
        tasks: TaskStore,
        index: IndexStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.tasks = tasks
        self.index = index
        self.clock = clock
        self.sleep = sleep

    # -- which tasks ---------------------------------------------------------------------------
    def tasks_of(self, *, cluster: str | None = None, account: str | None = None) -> list[str]:
        """Every task listed in a cluster's (or an account's) index partitions, each once."""
        if cluster:
            kind, value = CLUSTER_NAME_KIND, cluster_name_of(cluster)
        elif account:
            kind, value = "accountId", account
        else:
            raise ValueError("a cluster or an account is needed")
        found: dict[str, None] = {}
        for partition in index.partitions(kind, value):
            after: str | None = None
            while True:
                page = self.index.query_shard(partition, after=after, limit=_PAGE)
                for hit in page.hits:
                    if account and hit.projection.get("accountId", account) != account:
                        continue
                    if cluster and cluster.startswith("arn:") and hit.projection.get("cluster") != cluster:
                        continue
                    found.setdefault(hit.identity)
                if page.exhausted or not page.hits:
                    break
                after = page.hits[-1].sort
        return list(found)

    # -- checking and repairing ----------------------------------------------------------------
    def run(
        self,
        identities: Iterable[str],
        *,
        settle: Callable[[], object] | None = None,
        wait_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        dry_run: bool = False,
    ) -> ReindexReport:
        """Check each task, move the out-of-sync ones to the indexer, and wait until they are in sync.

        ``settle`` delivers the stream to the indexer where that is this process's job (local mode,
        tests); a deployed stack's own event source mapping needs none, and reindex polls.
        """
        report = ReindexReport()
        tasks = list(dict.fromkeys(identities))
        report.checked = len(tasks)
        waiting: list[str] = []
        for chunk in _chunks(tasks):
            states = self._states(chunk, report)
            for identity, (stored, missing) in states.items():
                if not missing:
                    report.in_sync.append(identity)
                elif dry_run:
                    report.pending.append(identity)
                else:
                    mark = (stored.record.reindex_mark or 0) + 1
                    if self.tasks.request_reindex(identity, stored.record.revision, mark):
                        report.requested.append(identity)
                    else:
                        report.changed.append(identity)
                    waiting.append(identity)
        if waiting:
            self._wait(waiting, report, settle, wait_seconds, poll_seconds)
        return report

    def _wait(
        self,
        waiting: list[str],
        report: ReindexReport,
        settle: Callable[[], object] | None,
        wait_seconds: float,
        poll_seconds: float,
    ) -> None:
        deadline = self.clock() + wait_seconds
        while True:
            if settle is not None:
                settle()
            still: list[str] = []
            for chunk in _chunks(waiting):
                states = self._states(chunk, report)
                for identity in chunk:
                    if identity not in states:
                        continue  # removed meanwhile (gone) or unreadable now: already reported
                    _, missing = states[identity]
                    (still if missing else report.settled).append(identity)
            waiting = still
            if not waiting or self.clock() >= deadline:
                break
            self.sleep(min(poll_seconds, max(deadline - self.clock(), 0.0)))
        report.unsettled.extend(waiting)

    def _states(self, identities: list[str], report: ReindexReport) -> dict[str, tuple[StoredTask, bool]]:
        """Each task that has a readable record, and whether an entry it wants is missing or differs;
        the others are reported."""
        items = self.tasks.task_items(identities, with_seen=False)
        stored_tasks: dict[str, StoredTask] = {}
        for identity in identities:
            try:
                stored = stored_task(items.get(identity, []))
            except (KeyError, ValueError, TypeError) as error:
                report.unreadable[identity] = f"{type(error).__name__}: {error}"[:500]
                continue
            report.unreadable.pop(identity, None)
            if stored is None:
                if identity not in report.gone:
                    report.gone.append(identity)
                continue
            stored_tasks[identity] = stored
        want = {identity: wanted(stored.record, identity) for identity, stored in stored_tasks.items()}
        found = self.index.stored_digests(ref for entries in want.values() for ref in entries)
        return {
            identity: (
                stored_tasks[identity],
                any(found.get(ref) != item.digest for ref, item in want[identity].items()),
            )
            for identity in stored_tasks
        }


def tasks_in_stream_range(streams: Any, batch: StreamRange) -> list[str]:
    """The tasks whose record changes are in an on-failure range, read from the stream itself.

    Raises ``RangeUnreadable`` when the stream no longer holds the range (records live 24 h).
    """
    end = int(batch.end)
    found: dict[str, None] = {}
    try:
        for record in _stream_records(streams, batch):
            data = record.get("dynamodb") or {}
            if int(data.get("SequenceNumber", "0")) > end:
                break
            key = data.get("Keys") or {}
            pk = key.get(PARTITION_KEY, {}).get("S", "")
            if key.get(SORT_KEY, {}).get("S") == keys.RECORD_SK and pk.startswith(keys.TASK_PREFIX):
                found.setdefault(keys.identity_of_partition(pk))
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code in {"TrimmedDataAccessException", "ResourceNotFoundException", "ValidationException"}:
            raise RangeUnreadable(f"{batch.shard_id} {batch.start}..{batch.end}: {code}") from error
        raise
    return list(found)


def _stream_records(streams: Any, batch: StreamRange) -> Iterator[dict[str, Any]]:
    iterator: str | None = streams.get_shard_iterator(
        StreamArn=batch.stream_arn,
        ShardId=batch.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=batch.start,
    )["ShardIterator"]
    empty = 0
    for _ in range(_MAX_STREAM_READS):
        if not iterator:
            return
        answer = streams.get_records(ShardIterator=iterator, Limit=_STREAM_READ_LIMIT)
        records = answer.get("Records", [])
        yield from records
        empty = 0 if records else empty + 1
        if empty >= _EMPTY_READS:
            return
        iterator = answer.get("NextShardIterator")


def _chunks(identities: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(identities), _CHUNK):
        yield identities[start : start + _CHUNK]


__all__ = ["RangeUnreadable", "ReindexReport", "Reindexer", "tasks_in_stream_range"]
