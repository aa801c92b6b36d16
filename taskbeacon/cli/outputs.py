"""Outputs besides JSON: CSV (one flat row per item, full RFC 3339 times) and NDJSON (one item a line).

CSV columns are fixed per kind of item so a header never changes between pages; lists are joined with
spaces, maps as ``k=v`` separated by spaces, unknown values are empty. NDJSON is the API's item as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from taskbeacon.cli.views import task_ips

Row = list[str]

TASK_COLUMNS = (
    "taskId",
    "taskArn",
    "accountId",
    "region",
    "clusterName",
    "serviceName",
    "family",
    "revision",
    "lastStatus",
    "desiredStatus",
    "launchType",
    "availabilityZone",
    "ips",
    "images",
    "startedAt",
    "stoppedAt",
    "stopCode",
    "firstSeenAt",
    "lastSeenAt",
    "stale",
    "tags",
    "drifted",
)
HIT_COLUMNS = (*TASK_COLUMNS, "heldFrom", "heldUntil")
HISTORY_COLUMNS = ("at", "source", "reporter", "changes")
SUMMARY_COLUMNS = ("group", "running")


def flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(flat(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={flat(v)}" for k, v in value.items())
    return str(value)


def task_row(task: dict[str, Any]) -> Row:
    derived = {
        "ips": task_ips(task),
        "images": list(dict.fromkeys(c.get("image") for c in task.get("containers") or [] if c.get("image"))),
        # The sweep's verdict: true or false, empty when never judged (a standalone task).
        "drifted": (task.get("drift") or {}).get("drifted") if isinstance(task.get("drift"), dict) else None,
    }
    return [flat(derived[c] if c in derived else task.get(c)) for c in TASK_COLUMNS]


def hit_row(item: dict[str, Any]) -> Row:
    task = item["task"] if isinstance(item.get("task"), dict) else item
    return [*task_row(task), flat(item.get("heldFrom")), flat(item.get("heldUntil"))]


def history_row(item: dict[str, Any]) -> Row:
    changes = item.get("changes")
    return [
        flat(item.get("at")),
        flat(item.get("source")),
        flat(item.get("reporter")),
        json.dumps(changes, separators=(",", ":"), ensure_ascii=False) if changes is not None else "",
    ]


def is_hits(items: Iterable[dict[str, Any]]) -> bool:
    """``ip`` search answers are ``{"task", "heldFrom", "heldUntil"}``, every other search plain tasks."""
    return any(isinstance(item.get("task"), dict) for item in items)


class CsvWriter:
    """Writes the header once, before the first row, then rows as pages arrive."""

    def __init__(self, out: TextIO, columns: tuple[str, ...], row: Callable[[dict[str, Any]], Row]) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self._columns = columns
        self._row = row
        self._started = False

    def header(self) -> None:
        if not self._started:
            self._writer.writerow(self._columns)
            self._started = True

    def write(self, items: Iterable[dict[str, Any]]) -> None:
        self.header()
        for item in items:
            self._writer.writerow(self._row(item))


def ndjson(out: TextIO, items: Iterable[Any]) -> None:
    for item in items:
        out.write(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n")
