"""Query use cases: list, show, history, search and summary. Each page is bounded reads on keys."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidCursor, InvalidInput, NotFound
from core.logic.indexing import ALL, LIST_DIMENSIONS, SUMMARY_DIMENSIONS
from core.logic.lifecycle import is_stopped
from core.store import cursor as cursors
from core.store import keys
from core.store.reader import IndexHit, Reader
from core.store.records import STORED_DOC, is_expired

_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# How many index entries one page may read while filters drop some: keeps reads near the page size.
_READ_BUDGET_FACTOR = 3
SEARCH_PARAMETERS: tuple[str, ...] = (
    "ip",
    "image",
    "imageDigest",
    "containerName",
    "label",
    "tag",
    "dockerId",
    "eni",
)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    items_read: int = 0

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "nextCursor": self.next_cursor}


class QueryService:
    def __init__(self, reader: Reader, *, keepalive_seconds: int, history_limit: int):
        self.reader = reader
        self.keepalive_seconds = keepalive_seconds
        self.history_limit = history_limit

    # -- single task -------------------------------------------------------------------------
    def get_task(self, task_ref: str, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        task_id = task_id_from_reference(task_ref)
        item = self.reader.get_item(task_id)
        if item is None or is_expired(item, now):
            raise NotFound(f"no task {task_id} in the inventory", field="taskId")
        return self._document(item, now)

    def history(self, task_ref: str, *, limit: int, cursor: str | None, now: datetime | None = None) -> Page:
        task_id = task_id_from_reference(task_ref)
        item = self.reader.get_item(task_id)
        if item is None or is_expired(item, now or datetime.now(UTC)):  # gone as for GET /tasks/{id}
            raise NotFound(f"no task {task_id} in the inventory", field="taskId")
        entries = list(reversed(json.loads(item.get("hist", {}).get("S", "[]"))))
        query = {"history": task_id}
        offset = 0
        if cursor:
            offset = cursors.decode(cursor, query)
            if not isinstance(offset, int) or not 0 <= offset <= len(entries):
                raise InvalidCursor("cursor is stale: the history moved on; start again", field="cursor")
        page = entries[offset : offset + limit]
        more = offset + limit < len(entries)
        return Page(page, cursors.encode(offset + limit, query) if more else None, items_read=1)

    # -- lists and searches -----------------------------------------------------------------
    def list_tasks(
        self, filters: dict[str, str], *, since: datetime | None, limit: int, cursor: str | None
    ) -> Page:
        primary_kind, primary_value = ALL, ALL
        for dimension in LIST_DIMENSIONS:
            if dimension in filters:
                primary_kind, primary_value = dimension, filters[dimension]
                break
        projected = {name: value for name, value in filters.items() if name != primary_kind}
        if primary_kind == "cluster" and not primary_value.startswith("arn:"):
            primary_kind = "clusterName"
        if "cluster" in projected and not projected["cluster"].startswith("arn:"):
            projected["clusterName"] = projected.pop("cluster")
        query = {"list": filters, "since": since.isoformat() if since else None}
        return self._paged(primary_kind, primary_value, projected, query, limit, cursor, since=since)

    def search(
        self,
        kind: str,
        value: str,
        *,
        status: str | None,
        at: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        projected = {"status": status} if status else {}
        query = {"search": kind, "value": value, "status": status, "at": at.isoformat() if at else None}
        return self._paged(kind, value, projected, query, limit, cursor, until=at, at=at, held=kind == "ip")

    def summary(self, by: str) -> dict[str, Any]:
        if by not in SUMMARY_DIMENSIONS:
            raise InvalidInput(f"by must be one of {', '.join(SUMMARY_DIMENSIONS)}", field="by")
        groups = sorted(self.reader.summary(by), key=lambda group: (-group[1], group[0]))
        return {
            "by": by,
            "groups": [{"group": name, "running": count} for name, count in groups],
            "total": sum(count for _, count in groups),
        }

    def _paged(
        self,
        kind: str,
        value: str,
        projected: dict[str, str],
        query: dict[str, Any],
        limit: int,
        cursor: str | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        at: datetime | None = None,
        held: bool = False,
    ) -> Page:
        now = datetime.now(UTC)
        start = cursors.decode(cursor, query) if cursor else None
        hits: list[IndexHit] = []
        items_read = 0
        while True:
            page = self.reader.query_index(
                kind,
                value,
                limit=limit - len(hits),
                start=start,
                filters=projected,
                since=since,
                until=until,
                now=now,
            )
            items_read += page.items_read
            hits += [hit for hit in page.hits if at is None or _held_at(hit, at)]
            start = page.last_key
            if start is None or len(hits) >= limit or items_read >= limit * _READ_BUDGET_FACTOR:
                break
        records = self.reader.batch_get([hit.task_id for hit in hits], now)
        items: list[dict[str, Any]] = []
        for hit in hits:
            record = records.get(hit.task_id)
            if record is None:
                continue  # expired or deleted between the index read and the record read
            document = self._document(record, now)
            items.append(
                {"task": document, "heldFrom": hit.held_from, "heldUntil": hit.held_until}
                if held
                else document
            )
        next_cursor = cursors.encode(start, query) if start is not None else None
        return Page(items, next_cursor, items_read=items_read + len(hits))

    def _document(self, item: dict[str, Any], now: datetime) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(item[STORED_DOC]["S"])
        document["stale"] = self._is_stale(document, now)
        document["indexTruncated"] = item.get("ixTrunc", {}).get("BOOL", False)
        return document

    def _is_stale(self, document: dict[str, Any], now: datetime) -> bool:
        """No report or event for longer than two keepalive intervals while not stopped."""
        if is_stopped(document.get("lastStatus")) or not document.get("lastSeenAt"):
            return False
        last_seen = datetime.fromisoformat(document["lastSeenAt"].replace("Z", "+00:00"))
        if last_seen.tzinfo is None:
            last_seen = last_seen.replace(tzinfo=UTC)
        return (now - last_seen).total_seconds() > 2 * self.keepalive_seconds


def _held_at(hit: IndexHit, at: datetime) -> bool:
    moment = keys.timestamp(at.astimezone(UTC))
    if hit.held_from is not None and hit.held_from > moment:
        return False
    return hit.held_until is None or hit.held_until >= moment


def task_id_from_reference(reference: str) -> str:
    """A task id from an id or a (URL-decoded) task ARN of either format."""
    candidate = reference.strip()
    if candidate.startswith("arn:"):
        resource = candidate.split(":", 5)[-1]
        if not resource.startswith("task/"):
            raise InvalidInput("not a task ARN", field="taskId")
        candidate = resource.rsplit("/", 1)[-1]
    if not _TASK_ID.match(candidate):
        raise InvalidInput("not a task id or task ARN", field="taskId")
    return candidate
