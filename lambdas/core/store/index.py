"""The search index's home in the table: where entries live, and how they are read and written.

Logic says what a task is found by (core/logic/indexing.py: kinds, values, projections, and the time
each entry is ordered by, as ``WantedEntry``); this module says where that lives:

| item        | pk                            | sk                                        |
|-------------|-------------------------------|-------------------------------------------|
| index entry | ``IX#<kind>#<value>#<shard>`` | ``<ordered_at>#<identity>``               |
| day entry   | ``IX#activeDay:<day>#all#<shard>`` | ``<start>#<identity>``              |

Kinds many tasks write are spread over shards (a task's entries of one kind always land in the same
shard), so no partition key runs hot; reads merge the shards (docs/decisions.md "No hot partition").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from core.model import IndexItem, WantedEntry
from core.model.time import timestamp

# Index kinds whose partitions many tasks write (every start and stop moves an entry in them) are
# spread over this many partition keys; kinds that name one task's own values (its IPs, ENIs,
# Docker ids, task id) are not. Reads merge the shards. Sized in docs/decisions.md "No hot partition".
INDEX_SHARDS: Final = 8
UNSHARDED_KINDS: Final = frozenset({"ip", "eni", "dockerId", "taskId"})
# The kind of a stopped task's time entries, its value a UTC day (YYYY-MM-DD) it was active: one
# partition per day, spelled ``activeDay:<day>``; only stops write them (<= 1,000 a second).
ACTIVE_DAY: Final = "activeDay"
ACTIVE_DAY_SHARDS: Final = 4
_ACTIVE_DAY_PREFIX: Final = f"{ACTIVE_DAY}:"
_WHOLE_DAY: Final = "all"  # a day partition's value part
# Every sort key starts with a timestamp (four digits of a year); DynamoDB's limit, in bytes.
_MAX_SORT_KEY: Final = 1024


def shards_of(kind: str) -> int:
    """How many partitions hold the entries of one (kind, value)."""
    if kind in UNSHARDED_KINDS:
        return 1
    return ACTIVE_DAY_SHARDS if kind == ACTIVE_DAY else INDEX_SHARDS


def partitions(kind: str, value: str) -> list[str]:
    """Every partition a query of (kind, value) reads, one per shard, in shard order."""
    return [_partition(kind, value, shard) for shard in range(shards_of(kind))]


def placed(entries: Iterable[WantedEntry], identity: str, expires_at: int | None) -> dict[str, IndexItem]:
    """A task's wanted entries as stored items, by reference ("pk<TAB>sk"), each expiring at
    ``expires_at`` (the task's lease)."""
    items: dict[str, IndexItem] = {}
    for entry in entries:
        item = IndexItem(
            partition=_partition(entry.kind, entry.value, _shard(entry.kind, identity)),
            sort=f"{timestamp(entry.ordered_at)}#{identity}",
            identity=identity,
            projection=entry.projection,
            held_from=None if entry.held_from is None else timestamp(entry.held_from),
            held_until=None if entry.held_until is None else timestamp(entry.held_until),
            expires_at=expires_at,
        )
        items[item.ref] = item
    return items


def is_position(position: str) -> bool:
    """Whether ``position`` has the shape of a sort key this module writes (a cursor's per-shard
    position): at most DynamoDB's key size, starting with a timestamp."""
    return len(position.encode()) <= _MAX_SORT_KEY and position[:4].isdigit()


def within(position: str, low: str | None, high: str | None) -> bool:
    """Whether a sort key lies in the range ``query_shard`` reads for ``low``..``high`` (timestamps)."""
    return (low is None or position >= low) and (high is None or position <= high + "~")


def _shard(kind: str, identity: str) -> int:
    """A task's entries of one kind always land in the same shard (stable hash of its identity)."""
    count = shards_of(kind)
    if count == 1:
        return 0
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=4).digest(), "big") % count


def _partition(kind: str, value: str, shard: int) -> str:
    if kind == ACTIVE_DAY:
        kind, value = f"{_ACTIVE_DAY_PREFIX}{value}", _WHOLE_DAY
    return f"IX#{kind}#{value}#{shard}"
