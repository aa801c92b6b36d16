"""Invokes the real Lambda handlers in-process, one invocation at a time, as one Lambda instance would,
and delivers the table's stream to the indexer in the background, as its event source mapping does."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskbeacon.local.aws.stream_pump import Pump

from taskbeacon.local.aws.lambda_context import LocalContext

log = logging.getLogger("taskbeacon.local.runtime")


# The functions whose invocations write the table: each one wakes the background delivery of the
# table's new stream records to the indexer, as the stream's event source mapping would.
WRITERS = frozenset({"ingest", "events"})
# The functions that read what the indexer derives (index entries, summary counters): each waits,
# before it runs, until the index is in step with every write finished before it began.
READERS = frozenset({"query"})
# Like the mapping's MaximumBatchingWindowInSeconds: after a write wakes it, the delivery waits this
# long (unless a reader is waiting) so that, under load, batches grow towards the batch size.
BATCH_WINDOW_SECONDS = 0.05
_POLL_SECONDS = 0.25  # waits wake this often, so Ctrl-C and stop() are noticed


class LambdaRuntime:
    """Imports the handler modules on first use (after local mode has set the environment).

    With a ``stream`` (a :class:`~taskbeacon.local.aws.stream_pump.Pump`), a writer's
    invocation returns as soon as its own write is done; a background thread (started on the first
    write) drains the stream into the indexer, as the event source mapping does in AWS. Reads stay
    deterministic where people and tests read: a reader's invocation, and :meth:`settle`, first wait
    for a drain that started after every write finished before them (in AWS the index follows within
    seconds). Writes that finish while a drain runs share the next one, so under load the indexer
    gets many records per batch.

    A drain that fails (the stream never went quiet, a batch exhausted its retries with
    ``on_failure="raise"``, the engine refused) is logged, or, with ``raise_errors`` (the default
    when the pump raises, as in tests), kept and re-raised by the next :meth:`settle` or reader: it is
    never lost. :meth:`stop` ends the thread; reads after it drain in the caller's thread.
    """

    def __init__(
        self,
        stream: Pump | None = None,
        writers: frozenset[str] = WRITERS,
        readers: frozenset[str] = READERS,
        *,
        batch_window: float = BATCH_WINDOW_SECONDS,
        raise_errors: bool | None = None,
    ) -> None:
        self._lock = threading.Lock()  # one handler invocation at a time
        self._state = threading.Condition()  # guards the counters below
        self._written = 0  # writer invocations finished
        self._drained = 0  # of those, how many a finished drain covers
        self._waiting = 0  # settle() calls waiting: the batching window is cut short for them
        self._error: BaseException | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stream = stream
        self.writers = writers
        self.readers = readers
        self.batch_window = batch_window
        if raise_errors is None:
            raise_errors = getattr(stream, "on_failure", "raise") == "raise"
        self.raise_errors = raise_errors
        self.drains = 0  # drains the background thread ran (benchmarks and tests read it)

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        import importlib

        if function in self.readers:
            self.settle()
        module = importlib.import_module(f"handlers.{function}")
        with self._lock:
            try:
                return module.handler(event, LocalContext(function_name=f"taskbeacon-{function}"))
            finally:
                if self.stream is not None and function in self.writers:
                    self._wrote()

    def note_write(self) -> None:
        """A write made outside the handlers' invocations (local mode's sweep): the background
        delivery follows it as it follows theirs."""
        if self.stream is not None:
            self._wrote()

    # -- the background delivery -------------------------------------------------------------

    def _wrote(self) -> None:
        with self._state:
            self._written += 1
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._deliver, name="taskbeacon-stream", daemon=True)
                self._thread.start()
            self._state.notify_all()

    def settle(self) -> None:
        """Return once a finished drain covers every write finished before this call; re-raise a
        kept error of the background delivery (``raise_errors``)."""
        if self.stream is None:
            return
        with self._state:
            target = self._written
            self._waiting += 1
            self._state.notify_all()
            try:
                while self._drained < target and self._error is None:
                    if self._stopping or self._thread is None or not self._thread.is_alive():
                        break  # no thread delivers any more: drain here
                    self._state.wait(_POLL_SECONDS)
            finally:
                self._waiting -= 1
            self._raise_kept()
            inline = self._drained < target
        if inline:
            self._drain(target)
            with self._state:
                self._raise_kept()

    def stop(self, timeout: float = 1.0) -> None:
        """End the background thread (it finishes the drain it is in, if any, within ``timeout``)."""
        with self._state:
            self._stopping = True
            self._state.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def delivering(self) -> bool:
        """Whether the background thread is alive (tests)."""
        return self._thread is not None and self._thread.is_alive()

    def _deliver(self) -> None:
        more = False  # the last pass read records: the indexer's own writes may follow them
        while True:
            with self._state:
                while self._drained >= self._written and not more and not self._stopping:
                    self._state.wait()
                if self._stopping:
                    return
                if self.batch_window > 0 and not self._waiting and not more:
                    self._state.wait_for(lambda: self._waiting > 0 or self._stopping, self.batch_window)
                    if self._stopping:
                        return
                target = self._written
            # One pass, not "until quiet": under a fleet the writers never pause. Every write
            # finished before the pass began is on the stream it reads, so the pass covers it.
            more = self._drain(target, until_quiet=False)
            self.drains += 1

    def _drain(self, target: int, *, until_quiet: bool = True) -> bool:
        """A drain of the stream covering writes up to ``target`` (the pump serializes drains);
        whether it read any record its filter passed (only those reach the indexer, whose writes may
        follow them)."""
        assert self.stream is not None
        error: BaseException | None = None
        read = 0
        try:
            result = self.stream.drain() if until_quiet else self.stream.drain(until_quiet=False)
            read = int(getattr(result, "read", 0) or 0) - int(getattr(result, "filtered", 0) or 0)
        except Exception as failure:
            error = failure
        with self._state:
            self._drained = max(self._drained, target)
            if error is not None:
                if self.raise_errors:
                    self._error = self._error or error
                elif self._stopping:
                    pass  # local mode is stopping, its engine with it: nothing is lost, nothing to say
                else:
                    # The writes themselves succeeded; in AWS a failing indexer does not fail them either.
                    log.error("delivering the table's stream to the indexer failed", exc_info=error)
            self._state.notify_all()
        return read > 0

    def _raise_kept(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error
