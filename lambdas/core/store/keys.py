"""Key layout of the single table (see docs/decisions.md "Table and key design").

| item            | pk                                   | sk                          | written by |
|-----------------|--------------------------------------|-----------------------------|------------|
| task record     | ``TASK#<identity>``                  | ``TASK``                    | ingest, events |
| keepalive item  | ``TASK#<identity>``                  | ``SEEN``                    | ingest (keepalives) |
| index entry     | ``IX#<kind>#<value>#<shard>``        | ``<firstSeenAt>#<identity>``| indexer |

Everything under ``TASK#<identity>`` belongs to one task; only index entries are shared, and only
the indexer writes them, in batches, sharded so no partition key runs hot. (The sweep writes
records as events do; the reconciler moves a record's lease.)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Final

from core.store.schema import PARTITION_KEY, SORT_KEY

TASK_PREFIX: Final = "TASK#"
RECORD_SK: Final = "TASK"
SEEN_SK: Final = "SEEN"

# Index kinds whose partitions many tasks write (every start and stop moves an entry in them) are
# spread over this many partition keys; kinds that name one task's own values (its IPs, ENIs,
# Docker ids, task id) are not. Reads merge the shards. Sized in docs/decisions.md "No hot partition".
INDEX_SHARDS: Final = 8
UNSHARDED_KINDS: Final = frozenset({"ip", "eni", "dockerId", "taskId"})
# Time entries of stopped tasks, one partition per UTC day: only stops write them (<= 1,000 a second).
ACTIVE_DAY_SHARDS: Final = 4

Key = dict[str, dict[str, str]]


def task_partition(identity: str) -> str:
    return f"{TASK_PREFIX}{identity}"


def identity_of_partition(pk: str) -> str:
    return pk.removeprefix(TASK_PREFIX)


def record_key(identity: str) -> Key:
    return {PARTITION_KEY: {"S": task_partition(identity)}, SORT_KEY: {"S": RECORD_SK}}


def seen_key(identity: str) -> Key:
    return {PARTITION_KEY: {"S": task_partition(identity)}, SORT_KEY: {"S": SEEN_SK}}


def shards_of(kind: str) -> int:
    if kind in UNSHARDED_KINDS:
        return 1
    return ACTIVE_DAY_SHARDS if kind.startswith(ACTIVE_DAY_PREFIX) else INDEX_SHARDS


ACTIVE_DAY_PREFIX: Final = "activeDay:"


def active_day_kind(day: str) -> str:
    """The index kind of the tasks that stopped having been active on ``day`` (YYYY-MM-DD)."""
    return f"{ACTIVE_DAY_PREFIX}{day}"


def index_shard(kind: str, identity: str) -> int:
    """A task's entries of one kind always land in the same shard (stable hash of its identity)."""
    count = shards_of(kind)
    if count == 1:
        return 0
    return int.from_bytes(hashlib.blake2b(identity.encode(), digest_size=4).digest(), "big") % count


def index_partition(kind: str, value: str, shard: int) -> str:
    return f"IX#{kind}#{value}#{shard}"


def index_sort(first_seen_at: datetime, identity: str) -> str:
    return f"{timestamp(first_seen_at)}#{identity}"


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so lexical order is time order (aware times are converted to UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    # The year by hand: strftime's %Y does not zero-pad years before 1000 on Linux.
    return f"{value.year:04d}" + value.strftime("-%m-%dT%H:%M:%S.%fZ")
