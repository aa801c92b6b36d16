"""Decoding DynamoDB stream records (as Lambda delivers them) into domain changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.model import StreamChange
from core.store import keys
from core.store.records import record_from_item
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr


@dataclass(frozen=True)
class Undecodable:
    """A stream record that is not a task record change the indexer can read (reported as failed)."""

    sequence: str
    reason: str


def decode(event: dict[str, Any]) -> tuple[list[StreamChange], list[Undecodable]]:
    """Task-record changes in stream order; other items (entries, keepalive items) are skipped."""
    changes: list[StreamChange] = []
    broken: list[Undecodable] = []
    for record in event.get("Records") or []:
        data = record.get("dynamodb") or {}
        sequence = str(data.get("SequenceNumber", ""))
        key = data.get("Keys") or {}
        pk = key.get(PARTITION_KEY, {}).get("S", "")
        if key.get(SORT_KEY, {}).get("S") != keys.RECORD_SK or not pk.startswith(keys.TASK_PREFIX):
            continue
        identity = keys.identity_of_partition(pk)
        try:
            if record.get("eventName") == "REMOVE":
                changes.append(StreamChange(identity, sequence, None))
                continue
            image = data["NewImage"]
            before = data.get("OldImage")
            expires = image.get(Attr.EXPIRES, {}).get("N")
            changes.append(
                StreamChange(
                    identity,
                    sequence,
                    record_from_item(image),
                    int(expires) if expires else None,
                    old=record_from_item(before) if before else None,
                )
            )
        except (KeyError, ValueError, TypeError) as error:
            broken.append(Undecodable(sequence, f"{type(error).__name__}: {error}"))
    return changes, broken
