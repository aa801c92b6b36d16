"""Where change events go (core/logic/change_events.py): EventBridge's PutEvents, or, in local mode,
an in-process bus that keeps the last events published (``GET /_local/events/published``).

PutEvents takes at most 10 entries a call. An entry EventBridge refuses (``FailedEntryCount``, an
``ErrorCode`` per entry, e.g. ThrottlingException) is sent again, up to ``ATTEMPTS`` calls, with
backoff; a call that fails whole (throttled, unreachable) fails every entry of it. What never
landed is returned, and the indexer reports its task's first record failed, so Lambda retries it.
EventBridge assigns its own envelope ``id``; ours is ``detail.eventId``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from core.logic.change_events import ChangeEvent

PUT_EVENTS_BATCH: Final = 10  # PutEvents' limit of entries per call
ATTEMPTS: Final = 4
# The bus setting that selects the in-process bus (local mode only; a deployed stack names a bus).
LOCAL_BUS: Final = "local"
LOCAL_BUS_KEEPS: Final = 1_000


class Publisher(Protocol):
    def publish(self, events: Sequence[ChangeEvent]) -> set[str]:
        """Publish events; the ids of those that did not land."""
        ...


class EventBridgePublisher:
    def __init__(self, bus: str, *, client: Any | None = None, sleep: Any = time.sleep):
        self.bus = bus
        self._client = client
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _events_client()
        return self._client

    def publish(self, events: Sequence[ChangeEvent]) -> set[str]:
        failed: set[str] = set()
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            failed |= self._put(list(events[start : start + PUT_EVENTS_BATCH]))
        return failed

    def _put(self, pending: list[ChangeEvent]) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(ATTEMPTS):
            if not pending:
                return set()
            if attempt:
                self._sleep(min(0.1 * 2**attempt, 2.0))
            try:
                response = self.client.put_events(Entries=[event.entry(self.bus) for event in pending])
            except (ClientError, BotoCoreError):
                continue  # the whole call failed: every entry of it is tried again
            results = response.get("Entries") or []
            refused = [
                event for event, result in zip(pending, results, strict=False) if result.get("ErrorCode")
            ]
            pending = refused + pending[len(results) :]  # entries with no answer did not land either
        return {event.id for event in pending}


class MemoryBus:
    """Local mode's bus: keeps the last ``keeps`` events published, newest last (thread-safe)."""

    def __init__(self, keeps: int = LOCAL_BUS_KEEPS):
        self._events: deque[dict[str, Any]] = deque(maxlen=keeps)
        self._lock = threading.Lock()
        self._fail_next = 0
        self._seq = 0
        self.refused = 0  # events refused by ``fail_next`` so far

    def publish(self, events: Sequence[ChangeEvent]) -> set[str]:
        with self._lock:
            failed = {event.id for event in events[: self._fail_next]}
            self._fail_next = max(0, self._fail_next - len(events))
            self.refused += len(failed)
            for event in events:
                if event.id not in failed:
                    self._seq += 1
                    self._events.append(as_published(event, self._seq))
        return failed

    def adopt(self, published: Sequence[dict[str, Any]]) -> None:
        """Keep events another process's bus published, numbered in this bus's order (local mode runs
        its indexer in a process of its own: taskbeacon/local/aws/indexer_mapping.py)."""
        with self._lock:
            for event in published:
                self._seq += 1
                self._events.append({**event, "seq": self._seq})

    def fail_next(self, count: int) -> None:
        """Refuse the next ``count`` events (tests: a partial failure)."""
        with self._lock:
            self._fail_next = count

    def published(self, after: int = 0) -> list[dict[str, Any]]:
        """The events kept, oldest first, each with its position ``seq``; those after ``after``."""
        with self._lock:
            return [event for event in self._events if event["seq"] > after]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()


def as_published(event: ChangeEvent, seq: int) -> dict[str, Any]:
    """An event as a rule's target receives it (EventBridge adds its own id, account and region)."""
    return {
        "seq": seq,
        "source": "taskbeacon",
        "detail-type": event.kind,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "resources": [event.task_arn],
        "detail": event.detail,
    }


@lru_cache(maxsize=1)
def local_bus() -> MemoryBus:
    """The one in-process bus of local mode (made on first use)."""
    return MemoryBus()


def publisher_for(bus: str) -> Publisher:
    return local_bus() if bus == LOCAL_BUS else EventBridgePublisher(bus)


@lru_cache(maxsize=1)
def _events_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("events", config=Config(retries={"max_attempts": 3, "mode": "standard"}))
