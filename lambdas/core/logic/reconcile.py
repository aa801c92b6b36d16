"""The scheduled reconciler: recompute the summary counters from the index and repair drift.

The indexer's markers say which counters each task adds one to; every task that is not stopped
has an entry in a ``status`` partition. So the counters must equal the sum of the markers of the
tasks listed there. The indexer is exact under replays and partial failures; only a crash between
its counter update and its marker write can leave drift, which this repairs and counts.

Counting races the live indexer, so drift is repaired only when two passes a few seconds apart
agree on it and the group's counter did not move in between.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from core.logic.lifecycle import ACTIVE_STATUSES
from core.model import CounterKey
from core.store import keys
from core.store.index_writer import IndexStore
from core.store.reader import Reader
from core.vocabulary import COUNTED_DIMENSIONS

_PAGE = 500


@dataclass(frozen=True)
class ReconcileResult:
    groups: int
    drift: int  # sum of |expected - counted| over the groups repaired
    repaired: dict[CounterKey, int]
    unsettled: int  # groups whose drift was not confirmed by the second pass (left for next time)


@dataclass(frozen=True)
class _Pass:
    expected: Counter[CounterKey]
    counted: dict[CounterKey, tuple[int, int]]

    def drift(self, key: CounterKey) -> int:
        return self.expected.get(key, 0) - self.counted.get(key, (0, 0))[0]


class Reconciler:
    def __init__(
        self,
        reader: Reader,
        store: IndexStore,
        *,
        settle_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.reader = reader
        self.store = store
        self.settle_seconds = settle_seconds
        self.sleep = sleep

    def run(self) -> ReconcileResult:
        first = self._measure()
        self.sleep(self.settle_seconds)
        second = self._measure()
        repairs: dict[CounterKey, int] = {}
        unsettled = 0
        for key in set(first.expected) | set(first.counted) | set(second.expected) | set(second.counted):
            drift = second.drift(key)
            if drift == 0:
                continue
            moved = first.counted.get(key, (0, 0))[1] != second.counted.get(key, (0, 0))[1]
            if moved or first.drift(key) != drift:
                unsettled += 1
                continue
            repairs[key] = drift
        failed = self.store.add_counters(repairs, 0) if repairs else set()
        repaired = {key: delta for key, delta in repairs.items() if key not in failed}
        return ReconcileResult(
            groups=len(second.counted),
            drift=sum(abs(delta) for delta in repaired.values()),
            repaired=repaired,
            unsettled=unsettled + len(failed),
        )

    def _measure(self) -> _Pass:
        identities: list[str] = []
        for status in ACTIVE_STATUSES:
            for shard in range(keys.shards_of("status")):
                identities += self._members(keys.index_partition("status", status, shard))
        markers = self.store.load_markers(identities)
        expected: Counter[CounterKey] = Counter(key for marker in markers.values() for key in marker.sums)
        counted = {
            (dimension, group): value
            for dimension in COUNTED_DIMENSIONS
            for group, value in self.reader.counters(dimension).items()
        }
        return _Pass(expected, counted)

    def _members(self, partition: str) -> list[str]:
        members: list[str] = []
        after: str | None = None
        while True:
            page = self.reader.query_shard(partition, after=after, limit=_PAGE)
            members += [hit.identity for hit in page.hits]
            if page.exhausted or not page.hits:
                return members
            after = page.hits[-1].sort


__all__ = ["ReconcileResult", "Reconciler"]
