"""Conversion between ``TaskRecord`` and DynamoDB items (the record's JSON stays compact)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from core.logic.merge import TaskRecord
from core.model import Task

STORED_DOC = "doc"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def task_document(task: Task) -> dict[str, Any]:
    """The task as the API shows it (camelCase), minus ``stale`` which is computed on read."""
    return task.model_dump(by_alias=True, mode="json", exclude={"stale"})


def expires_at(task: Task, *, now: datetime, retention_days: int) -> int | None:
    """Epoch seconds when a stopped task may be forgotten; running tasks never expire."""
    if (task.last_status or "").upper() != "STOPPED":
        return None
    stopped = task.stopped_at or now
    if stopped.tzinfo is None:
        stopped = stopped.replace(tzinfo=UTC)
    return int((stopped + timedelta(days=retention_days)).timestamp())


def record_from_item(item: dict[str, Any]) -> TaskRecord:
    task = Task.model_validate(json.loads(item[STORED_DOC]["S"]))
    return TaskRecord(
        task=task,
        snapshot_key=item.get("snapKey", {}).get("S"),
        event_version=int(item["evtVer"]["N"]) if "evtVer" in item else None,
        history=tuple(json.loads(item.get("hist", {}).get("S", "[]"))),
        revision=int(item.get("rev", {}).get("N", "0")),
        extra={
            "indexed": json.loads(item.get("ix", {}).get("S", "{}")),
            "summed": [tuple(pair) for pair in json.loads(item.get("sums", {}).get("S", "[]"))],
        },
    )


def is_expired(item: dict[str, Any], now: datetime) -> bool:
    """TTL deletion lags by up to days; reads hide what has already expired."""
    expires = item.get("expiresAt", {}).get("N")
    return expires is not None and int(expires) <= int(now.timestamp())
