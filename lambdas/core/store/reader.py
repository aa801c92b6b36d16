"""Paged reads: every page is one ``Query`` on one partition plus one ``BatchGetItem``. Never a Scan."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidCursor, Throttled
from core.logic.indexing import MAX_INDEXED_VALUE_BYTES
from core.store import dynamo, keys
from core.store.records import is_expired
from core.store.schema import PARTITION_KEY, SORT_KEY

_BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
_BATCH_GET_RETRIES = 4  # extra requests allowed for keys DynamoDB left unprocessed


@dataclass(frozen=True)
class IndexHit:
    task_id: str
    held_from: str | None = None
    held_until: str | None = None


@dataclass(frozen=True)
class IndexPage:
    hits: list[IndexHit]
    last_key: dict[str, Any] | None
    items_read: int


class Reader:
    def __init__(self, table_name: str, client: Any | None = None):
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamo.client()
        return self._client

    def get_item(self, task_id: str) -> dict[str, Any] | None:
        with dynamo.translated_errors():
            response = self.client.get_item(TableName=self.table_name, Key=keys.task_key(task_id))
        return response.get("Item")

    def batch_get(self, task_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        """Records by task id (expired ones left out); unprocessed keys are retried."""
        found: dict[str, dict[str, Any]] = {}
        pending = [keys.task_key(task_id) for task_id in dict.fromkeys(task_ids)]
        requests = 0
        budget = -(-len(pending) // _BATCH_GET_KEYS) + _BATCH_GET_RETRIES
        while pending:
            if requests >= budget:
                # DynamoDB kept keys unprocessed (throttled): a page with holes would be wrong.
                raise Throttled("the inventory is busy; retry later", retry_after=1)
            if requests:
                time.sleep(min(0.05 * 2**requests, 0.5) * random.random())  # noqa: S311 - jitter, not crypto
            requests += 1
            request = {self.table_name: {"Keys": pending[:_BATCH_GET_KEYS]}}
            pending = pending[_BATCH_GET_KEYS:]
            with dynamo.translated_errors():
                response = self.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table_name, []):
                if not is_expired(item, now):
                    found[item[PARTITION_KEY]["S"].removeprefix("TASK#")] = item
            pending += response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
        return found

    def query_index(
        self,
        kind: str,
        value: str,
        *,
        limit: int,
        start: dict[str, Any] | None,
        filters: dict[str, str],
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime,
    ) -> IndexPage:
        """One page of index entries newest first; ``filters`` match the projection each entry carries."""
        if len(value.encode()) > MAX_INDEXED_VALUE_BYTES:
            # Never indexed (see indexing), and too long for a DynamoDB key: nothing can match.
            return IndexPage([], None, 0)
        partition = keys.index_partition(kind, value)
        names = {"#pk": PARTITION_KEY}
        values: dict[str, Any] = {":pk": {"S": partition}}
        condition = "#pk = :pk"
        if since is not None or until is not None:
            names["#sk"] = SORT_KEY
            low = keys.timestamp(since) if since else "0"  # every sort key starts with a year
            high = (keys.timestamp(until) if until else "") + "~"
            condition += " AND #sk BETWEEN :low AND :high"
            values[":low"] = {"S": low}
            values[":high"] = {"S": high}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start is not None:
            if (
                not isinstance(start, dict)
                or start.get(PARTITION_KEY) != {"S": partition}
                or SORT_KEY not in start
            ):
                raise InvalidCursor("cursor does not belong to this query", field="cursor")
            request["ExclusiveStartKey"] = start
        with dynamo.translated_errors():
            response = self.client.query(**request)
        hits: list[IndexHit] = []
        for item in response.get("Items", []):
            if is_expired(item, now):
                continue
            shown = json.loads(item.get("p", {}).get("S", "{}"))
            if any(shown.get(name) != wanted for name, wanted in filters.items()):
                continue
            hits.append(
                IndexHit(
                    task_id=item["taskId"]["S"],
                    held_from=item.get("heldFrom", {}).get("S"),
                    held_until=item.get("heldUntil", {}).get("S"),
                )
            )
        return IndexPage(hits, response.get("LastEvaluatedKey"), response.get("ScannedCount", 0))

    def summary(self, dimension: str) -> list[tuple[str, int]]:
        """All groups of one dimension with a positive count: one Query, O(groups) items."""
        groups: list[tuple[str, int]] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": keys.summary_partition(dimension)}},
        }
        while True:
            with dynamo.translated_errors():
                response = self.client.query(**request)
            for item in response.get("Items", []):
                count = int(item.get("running", {}).get("N", "0"))
                if count > 0:
                    groups.append((item[SORT_KEY]["S"], count))
            if "LastEvaluatedKey" not in response:
                return groups
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
