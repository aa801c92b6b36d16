"""Invokes the real Lambda handlers in-process, one invocation at a time, as one Lambda instance would."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskbeacon.local.aws.stream_pump import StreamPump

from taskbeacon.local.aws.lambda_context import LocalContext

log = logging.getLogger("taskbeacon.local.runtime")


# The functions whose invocations write the table: after each one, local mode delivers the
# table's new stream records to the indexer, as the stream's event source mapping would.
WRITERS = frozenset({"ingest", "events"})


class LambdaRuntime:
    """Imports the handler modules on first use (after local mode has set the environment).

    With a ``stream`` (a :class:`~taskbeacon.local.aws.stream_pump.StreamPump`), every invocation of a
    writer returns only after a drain of the stream into the indexer that started after its write,
    so a read after a write sees the index entries and counters the indexer derives from it (in AWS
    they follow within seconds). Writes that finish while a drain runs share the next one.
    """

    def __init__(self, stream: StreamPump | None = None, writers: frozenset[str] = WRITERS) -> None:
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._written = 0  # writer invocations finished
        self._drained = 0  # of those, how many a finished drain covers
        self.stream = stream
        self.writers = writers

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        import importlib

        module = importlib.import_module(f"handlers.{function}")
        mine = 0
        try:
            with self._lock:
                try:
                    return module.handler(event, LocalContext(function_name=f"taskbeacon-{function}"))
                finally:
                    if self.stream is not None and function in self.writers:
                        self._written += 1
                        mine = self._written
        finally:
            if mine:  # outside the handler lock: the next invocation runs while these records are indexed
                self._drain_through(mine)

    def _drain_through(self, write: int) -> None:
        """Return once a drain that started after ``write`` finished: one drain serves every write
        that finished while the previous one ran (the indexer gets them as one batch, as in AWS)."""
        assert self.stream is not None
        with self._drain_lock:
            if self._drained >= write:
                return
            covered = self._written
            try:
                self.stream.drain()
            except Exception:
                # The write itself succeeded; in AWS a failing indexer does not fail the report either.
                log.exception("delivering the table's stream to the indexer failed")
            self._drained = max(self._drained, covered)
