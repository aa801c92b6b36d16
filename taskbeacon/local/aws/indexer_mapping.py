"""The indexer's event source mapping in local mode: the table's stream delivered to the indexer
handler, in local mode's process or in a process of its own.

Deployed, the indexer is a Lambda function of its own, in execution environments of its own. Local
mode ran it in its own process, beside the gateway and the ingest and events handlers, where it took
half the interpreter's time: at 1,000 demo tasks the snapshots and the events were delivered twice
as fast with the indexer held back (docs/performance.md). With the embedded engine's tables in a
child process (taskbeacon/local/aws/engine_process.py), the indexer runs in a process of its own too
(``ChildStreamPump``), the engine's second caller: three processes share the two cores, and none of
them waits for the others' Python.

``ChildStreamPump`` has a pump's face in local mode (``drain``, ``pending``, ``dead_letters``,
``streams``, ``stream_arn``), so the runtime's background delivery, ``settle``, the sweep and
``reindex --from-failures`` work on either. Each drain's dead letters and the change events the
indexer published come back with its answer, into local mode's list and its in-process bus. The
process itself is taskbeacon/local/aws/indexer_child.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from taskbeacon.local.aws.engine import engine_client
from taskbeacon.local.aws.engine_process import STOP_SECONDS, ChildLink, EngineProcess
from taskbeacon.local.aws.stream_pump import (
    DrainResult,
    OnFailure,
    StreamPump,
    StreamPumpError,
    streams_client_for,
)

# Like the deployed mapping: a batch the indexer keeps failing goes to the (logged) dead letters.
ON_FAILURE: OnFailure = "skip"
# How the indexer's process answers: done, or failed (a StreamPumpError in local mode). When its link
# to the engine breaks it exits instead (EngineGone in local mode, which reads the end of the pipe).
OK, ERROR = "ok", "error"
STOP_GRACE_SECONDS = 0.1  # how long stop() lets a call in the channel finish before the kill


def mapping_pump(client: Any, table_name: str, region: str) -> StreamPump:
    """The table's stream into the indexer handler, filtered as the deployed mapping is (the same
    pattern, named once). Raises ``StreamPumpError`` when the table has no stream."""
    from core.store.keys import TASK_RECORD_STREAM_FILTER

    pump = StreamPump(
        client, table_name, region=region, on_failure=ON_FAILURE, filter_pattern=TASK_RECORD_STREAM_FILTER
    )
    _ = pump.stream_arn
    return pump


class ChildStreamPump:
    """The mapping's pump in a process of its own, the engine's second caller, driven over a channel.

    One call at a time. A call cut short between its request and its answer leaves that answer in the
    pipe, so the channel is then broken for good (every later call raises ``EngineGone``), as with
    the engine's (``ChildLink``); so is it once the process has exited.
    Raises ``StreamPumpError`` when the table has no stream (as ``StreamPump.stream_arn`` does).
    """

    on_failure: OnFailure = ON_FAILURE

    def __init__(self, engine: EngineProcess, endpoint: str, table_name: str, region: str) -> None:
        from multiprocessing.connection import Connection

        self.table_name = table_name
        self.region = region
        self.client = engine_client(endpoint, region)
        self.streams = streams_client_for(self.client)  # local mode's own reads (reindex --from-failures)
        self.dead_letters: list[dict[str, Any]] = []
        self._order = threading.Lock()  # a call's answer is taken in before the next call is made
        engine_requests, engine_answers = engine.take_second_caller()
        requests, to_child = os.pipe()  # (read end, write end)
        from_child, answers = os.pipe()
        child_ends = (engine_requests, engine_answers, requests, answers)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "taskbeacon.local.aws.indexer_child", *map(str, child_ends)],
                # Never written: the process exits when it closes, however local mode ends.
                stdin=subprocess.PIPE,
                pass_fds=child_ends,
            )
        except BaseException:
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            for descriptor in child_ends:
                os.close(descriptor)
        self._link = ChildLink(
            Connection(to_child, readable=False),
            Connection(from_child, writable=False),
            child="the indexer's process",
        )
        # The child's handlers get the environment local mode gave its own (the stack's variables).
        start = {"environment": dict(os.environ), "endpoint": endpoint, "table": table_name, "region": region}
        try:
            self.stream_arn: str = self._call("start", start)
        except BaseException:
            self.stop()
            raise

    def drain(self, *, until_quiet: bool = True) -> DrainResult:
        result: DrainResult = self._call("drain", until_quiet)
        return result

    def pending(self) -> int:
        count: int = self._call("pending", None)
        return count

    def stop(self) -> None:
        """Close the channel (the process exits when it sees it close). A call still in it (a drain in
        the background) is not waited for: the process is killed first, then the pipes closed."""
        self._link.close(timeout=STOP_GRACE_SECONDS, on_busy=self._process.kill)
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _call(self, verb: str, argument: Any) -> Any:
        with self._order:  # two callers' change events are adopted in the order they were published
            outcome, value, letters, published = self._link.exchange((verb, argument))
            self.dead_letters.extend(letters)
            if published:
                from core.publish import local_bus

                local_bus().adopt(published)
        if outcome == ERROR:
            raise StreamPumpError(value)
        return value
