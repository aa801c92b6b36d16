"""Key layout of the single table (see docs/decisions.md "Table and key design")."""

from __future__ import annotations

from datetime import datetime

from core.store.schema import PARTITION_KEY, SORT_KEY

TASK_SORT_KEY = "TASK"


def task_key(task_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": f"TASK#{task_id}"}, SORT_KEY: {"S": TASK_SORT_KEY}}


def index_partition(kind: str, value: str) -> str:
    return f"IX#{kind}#{value}"


def index_sort(first_seen_at: datetime, task_id: str) -> str:
    return f"{timestamp(first_seen_at)}#{task_id}"


def summary_partition(dimension: str) -> str:
    return f"SUM#{dimension}"


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so lexical order is time order."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
