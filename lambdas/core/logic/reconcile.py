"""The scheduled reconciler: renew the index leases of tasks that outlive them (core.logic.lease).

Every entry of a task expires at its lease. A task still running when its lease comes within the
margin gets a new lease: its record's ``lease`` moves on (one conditional ``UpdateItem``), and the
indexer, seeing every entry's expiry change, writes them again. Which tasks: the live partition's
entries that started before the first lease could run short, each of whose own expiry (the lease
it was written with) is due. A Query per live shard, bounded by the start, never a Scan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.logic.indexing import ALL, LIVE_KIND
from core.logic.lease import FIRST_LEASE_DAYS, RENEW_MARGIN_DAYS, renewal_due_before, renewed_lease
from core.model.time import timestamp
from core.store import index
from core.store.index import IndexStore
from core.store.tasks import TaskStore

_PAGE = 500


@dataclass(frozen=True)
class ReconcileResult:
    checked: int  # live entries old enough to be due
    renewed: int
    changed: int  # changed meanwhile (that change carries the lease on; the next run sees it)


class Reconciler:
    def __init__(
        self,
        tasks: TaskStore,
        index: IndexStore,
        *,
        retention_days: int,
        clock: Callable[[], datetime] | None = None,
    ):
        self.tasks = tasks
        self.index = index
        self.retention_days = retention_days
        self.clock = clock or (lambda: datetime.now(UTC))

    def run(self) -> ReconcileResult:
        now = self.clock()
        due = renewal_due_before(now, self.retention_days)
        new_lease = renewed_lease(now, self.retention_days)
        # A lease is first given at first sight, never before the task's start: a task started
        # less than this long ago still has most of its first lease.
        started_before = timestamp(now - timedelta(days=FIRST_LEASE_DAYS - RENEW_MARGIN_DAYS))
        checked = renewed = changed = 0
        for partition in index.partitions(LIVE_KIND, ALL):
            after: str | None = None
            while True:
                page = self.index.query_shard(partition, after=after, limit=_PAGE, high=started_before)
                for hit in page.hits:
                    checked += 1
                    if hit.expires_at is None or hit.expires_at >= due:
                        continue
                    if self.tasks.renew_lease(hit.identity, hit.expires_at, new_lease):
                        renewed += 1
                    else:
                        changed += 1
                if page.exhausted or not page.hits:
                    break
                after = page.hits[-1].sort
        return ReconcileResult(checked, renewed, changed)


__all__ = ["ReconcileResult", "Reconciler"]
