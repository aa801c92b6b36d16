"""The server side on one DynamoDB client, as the tests drive it: write, let the stream settle, read.

``Inventory.apply`` records an observation through the request path, then delivers the table's
stream to the real indexer (the same pump local mode uses), so the index is current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.logic.indexer import Indexer
from core.logic.query import QueryService
from core.logic.recording import Recorder, WriteOutcome
from core.model import Observation
from core.store.index import IndexStore
from core.store.tasks import TaskStore
from handlers.indexer import index_batch
from taskbeacon.local.aws.stream_pump import StreamPump
from tests.store.builders import T0


@dataclass
class Inventory:
    client: Any
    table: str = "tasks"
    history_limit: int = 5
    retention_days: int = 30
    keepalive_seconds: int = 900
    # The readers' clock: pinned a day after the builders' T0, so expiry does not depend on the date
    # the tests run (a stopped task of T0 would vanish 30 days later).
    now: datetime = T0 + timedelta(days=1)
    recorder: Recorder = field(init=False)
    indexer: Indexer = field(init=False)
    query: QueryService = field(init=False)
    pump: StreamPump = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = Recorder(
            TaskStore(self.table, client=self.client),
            retention_days=self.retention_days,
            history_limit=self.history_limit,
        )
        self.indexer = Indexer(
            TaskStore(self.table, client=self.client, sleep=lambda _: None),
            IndexStore(self.table, client=self.client, sleep=lambda _: None),
        )
        self.query = QueryService(
            TaskStore(self.table, client=self.client),
            IndexStore(self.table, client=self.client),
            keepalive_seconds=self.keepalive_seconds,
            history_limit=self.history_limit,
            clock=lambda: self.now,
        )
        self.pump = StreamPump(self.client, self.table, self.index_event)

    def index_event(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The indexer handler's body, on this client (no failure queue to park a poison record in)."""
        return index_batch(event, self.indexer, lambda poison, source: False)

    def apply(self, observation: Observation, *, now: datetime | None = None) -> WriteOutcome:
        outcome = self.recorder.apply(observation, now=now)
        self.settle()
        return outcome

    def apply_all(
        self, observations: list[Observation], *, now: datetime | None = None
    ) -> list[WriteOutcome]:
        outcomes = self.recorder.apply_all(observations, now=now)
        self.settle()
        return outcomes

    def settle(self) -> None:
        self.pump.drain()


def all_items(client: Any, table: str = "tasks") -> list[dict[str, Any]]:
    """Test-only inspection of the whole table; the product never scans."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        response = client.scan(**request)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
