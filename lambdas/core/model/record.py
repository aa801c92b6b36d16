"""What the store keeps per task, as domain objects (the store maps them to and from items).

A task is identified by its full identity, ``<partition>#<account>#<region>#<taskId>``: task ids are
unique only within an account and region, and a principal of one account can name any id it likes
in a task ARN of its own account. Keying by the bare id would let it overwrite another tenant's task.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.model.task import Task

_ARN_PARTITION = re.compile(r"^arn:(?P<partition>aws[a-z-]*):")


def task_identity(task: Task) -> str:
    """``<partition>#<account>#<region>#<taskId>``: the key of everything the task owns."""
    match = _ARN_PARTITION.match(task.task_arn)
    partition = match["partition"] if match else "aws"
    return f"{partition}#{task.account_id}#{task.region}#{task.task_id}"


@dataclass(frozen=True)
class TaskRecord:
    """The task record: the merged task, what orders reports against it, its bounded history."""

    task: Task
    snapshot_key: str | None = None  # order key of the newest snapshot merged in
    event_version: int | None = None
    history: tuple[dict[str, Any], ...] = ()
    revision: int = 0
    # When the task's index entries expire unless renewed (epoch seconds; core.logic.lease).
    lease_until: int | None = None
    # Moved by ``taskbeacon reindex``: a change of it alone makes the indexer put every entry again.
    reindex_mark: int | None = None


@dataclass(frozen=True)
class SeenState:
    """The task's small keepalive item: the newest snapshot accepted and what its content was.

    A keepalive whose content hash equals ``content_hash`` only moves ``snapshot_key`` and
    ``seen_at`` here, so it never rewrites (and pays for) the whole record.
    """

    snapshot_key: str | None = None
    content_hash: str | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True)
class TaskState:
    """Everything the write path reads about one task in one request."""

    record: TaskRecord | None = None
    seen: SeenState | None = None

    @property
    def newest_snapshot_key(self) -> str | None:
        keys = [
            k for k in (self.record and self.record.snapshot_key, self.seen and self.seen.snapshot_key) if k
        ]
        return max(keys) if keys else None


@dataclass(frozen=True)
class StoredTask:
    """A task as a read returns it: the record plus when it was last seen (from the keepalive item)."""

    identity: str
    record: TaskRecord
    seen_at: datetime | None = None
    expires_at: int | None = None


@dataclass(frozen=True)
class StreamChange:
    """One stream record of a task record: the record before it (None for a new one) and after it
    (None when the record was removed)."""

    identity: str
    sequence: str
    new: TaskRecord | None
    expires_at: int | None = None
    old: TaskRecord | None = None


@dataclass(frozen=True)
class WantedEntry:
    """One index entry a task wants, as logic states it (core/logic/indexing.py): what the task is
    found by (``kind``, ``value``), what the entry carries, and the time it is ordered by. Where it
    lives (partition, shard, sort key) is the store's to say (core/store/index.py ``placed``)."""

    kind: str
    value: str
    ordered_at: datetime
    projection: dict[str, str]
    held_from: datetime | None = None
    held_until: datetime | None = None


@dataclass(frozen=True)
class IndexItem:
    """One index entry as it is stored: where it lives and what it carries."""

    partition: str
    sort: str
    identity: str
    projection: dict[str, str]
    held_from: str | None = None
    held_until: str | None = None
    expires_at: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.partition}\t{self.sort}"

    @property
    def digest(self) -> str:
        content = [self.identity, self.projection, self.held_from, self.held_until, self.expires_at]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
