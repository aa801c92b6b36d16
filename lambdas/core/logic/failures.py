"""What the indexer's on-failure queue holds, and how to read it back (standard library only).

Two kinds of messages land there (docs/decisions/infra.md "A record the indexer cannot take"):

- a **parked task**, sent by the indexer itself for a poison record it has isolated (a batch of that
  one record): it names the task by its key, so ``taskbeacon reindex`` can re-derive the task from
  its stored record at any time, long after the stream has dropped the record (24 h);
- Lambda's own **on-failure record** for a batch it gave up on (retries exhausted, or older than the
  mapping's maximum record age). It holds only ``DDBStreamBatchInfo``: the stream, the shard and the
  first and last sequence numbers. The tasks behind it can be read from the stream while the stream
  still holds those records (24 h), which ``taskbeacon reindex`` does.

The infrastructure imports this module for the environment variable's name, so it imports nothing
beyond the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

PARKED_KIND: Final = "taskbeacon.indexer.poison"
_MAX_REASON = 1000


@dataclass(frozen=True)
class ParkedTask:
    """A task whose newest record change the indexer could not take (sent by the indexer)."""

    identity: str  # the task's key: <partition>#<account>#<region>#<task id>
    sequence: str
    reason: str


@dataclass(frozen=True)
class StreamRange:
    """Lambda's on-failure record of a stream batch: which records, not which tasks."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int


def parked_message(identity: str, sequence: str, reason: str, source: str | None = None) -> str:
    document: dict[str, Any] = {
        "kind": PARKED_KIND,
        "version": 1,
        "taskKey": identity,
        "sequenceNumber": sequence,
        "reason": reason[:_MAX_REASON],
    }
    if source:
        document["eventSourceARN"] = source
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def read_failure(body: str) -> ParkedTask | StreamRange | None:
    """The message's meaning, or None for anything else (left in the queue for a person)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if document.get("kind") == PARKED_KIND:
        return _parked(document)
    return _stream_range(document.get("DDBStreamBatchInfo"))


def _parked(document: dict[str, Any]) -> ParkedTask | None:
    identity = document.get("taskKey")
    if not isinstance(identity, str) or identity.count("#") != 3:
        return None
    return ParkedTask(identity, str(document.get("sequenceNumber", "")), str(document.get("reason", "")))


def _stream_range(info: Any) -> StreamRange | None:
    if not isinstance(info, dict):
        return None
    fields = [info.get(name) for name in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")]
    if not all(isinstance(value, str) and value for value in fields):
        return None
    stream_arn, shard_id, start, end = (str(value) for value in fields)
    size = info.get("batchSize")
    return StreamRange(stream_arn, shard_id, start, end, size if isinstance(size, int) else 0)
