"""Keys of a task's own items (see docs/decisions.md "Table and key design"); index entries are
placed by core/store/index.py.

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

from typing import Any, Final

from core.store.schema import PARTITION_KEY, SORT_KEY

TASK_PREFIX: Final = "TASK#"
RECORD_SK: Final = "TASK"
SEEN_SK: Final = "SEEN"

Key = dict[str, dict[str, str]]

# Here, not in core.vocabulary or core.store.stream: it needs only the key names, and infra/ already
# imports this stdlib-only module (stream.py would pull core.model into the stack's synth).
TASK_RECORD_STREAM_FILTER: Final[dict[str, Any]] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"Keys": {SORT_KEY: {"S": [RECORD_SK]}}},
}
"""The indexer's stream filter (a Lambda event-filtering pattern): only the task record's writes reach
the indexer. Keepalive items and index entries (the indexer's own writes) are dropped by Lambda before
any invocation, at no charge, and so are removals: a record's TTL removal derives nothing, its entries
expire with it (core.logic.lease). The stack deploys it (infra/indexing.py); local mode's stream pump
applies it (taskbeacon/local/aws/event_pattern.py)."""


def task_partition(identity: str) -> str:
    return f"{TASK_PREFIX}{identity}"


def identity_of_partition(pk: str) -> str:
    return pk.removeprefix(TASK_PREFIX)


def record_key(identity: str) -> Key:
    return {PARTITION_KEY: {"S": task_partition(identity)}, SORT_KEY: {"S": RECORD_SK}}


def seen_key(identity: str) -> Key:
    return {PARTITION_KEY: {"S": task_partition(identity)}, SORT_KEY: {"S": SEEN_SK}}
