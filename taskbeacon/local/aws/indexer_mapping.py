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
process ignores Ctrl-C (local mode decides when to stop) and exits when its channel closes.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from taskbeacon.local.aws.engine_process import STOP_SECONDS, EngineGone, EngineLink, EngineProcess, Forward
from taskbeacon.local.aws.stream_pump import (
    DrainResult,
    OnFailure,
    StreamPump,
    StreamPumpError,
    streams_client_for,
)

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Like the deployed mapping: a batch the indexer keeps failing goes to the (logged) dead letters.
ON_FAILURE: OnFailure = "skip"
_LOCAL_KEY = "local"  # local engines accept any key
# How the indexer's process answers: done, or failed (a StreamPumpError in local mode). When its link
# to the engine breaks it exits instead (EngineGone in local mode, which reads the end of the pipe).
_OK, _ERROR = "ok", "error"
STOP_GRACE_SECONDS = 0.1  # how long stop() lets a call in the channel finish before the kill

Channel = tuple["Connection", "Connection"]  # (to the other side, from the other side)


def mapping_pump(client: Any, table_name: str, region: str) -> StreamPump:
    """The table's stream into the indexer handler, filtered as the deployed mapping is (the same
    pattern, named once)."""
    from core.store.keys import TASK_RECORD_STREAM_FILTER

    return StreamPump(
        client, table_name, region=region, on_failure=ON_FAILURE, filter_pattern=TASK_RECORD_STREAM_FILTER
    )


def engine_client(endpoint: str, region: str) -> Any:
    """A DynamoDB client on the local engine."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=_LOCAL_KEY,
        aws_secret_access_key=_LOCAL_KEY,
    )


class ChildStreamPump:
    """The mapping's pump in a process of its own, the engine's second caller, driven over a channel.

    One call at a time. A call cut short between its request and its answer leaves that answer in the
    pipe, so the channel is then broken for good (every later call raises ``EngineGone``), as
    ``EngineLink`` does with the engine's; so is it once the process has exited.
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
        self._lock = threading.Lock()
        self._broken: str | None = None
        engine_requests, engine_answers = engine.take_second_caller()
        requests, to_child = os.pipe()  # (read end, write end)
        from_child, answers = os.pipe()
        child_ends = (engine_requests, engine_answers, requests, answers)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "taskbeacon.local.aws.indexer_mapping", *map(str, child_ends)],
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
        self._channel: Channel = (
            Connection(to_child, readable=False),
            Connection(from_child, writable=False),
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
        the background) is not waited for: the process is killed first, then the pipes closed, so no
        thread reads a descriptor that is closed under it."""
        locked = self._lock.acquire(timeout=STOP_GRACE_SECONDS)
        try:
            if not locked:
                self._process.kill()
            self._broken = self._broken or "the indexer's process is stopped"
            for connection in self._channel:
                connection.close()
            if self._process.stdin is not None:
                self._process.stdin.close()
        finally:
            if locked:
                self._lock.release()
        try:
            self._process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _call(self, verb: str, argument: Any) -> Any:
        to_child, from_child = self._channel
        with self._lock:
            if self._broken is not None:
                raise EngineGone(self._broken)
            try:
                to_child.send_bytes(pickle.dumps((verb, argument), pickle.HIGHEST_PROTOCOL))
                outcome, value, letters, published = pickle.loads(from_child.recv_bytes())  # noqa: S301
            except BaseException as error:
                self._broken = f"a call to the indexer's process ended: {error!r}"
                if isinstance(error, EOFError | OSError):
                    raise EngineGone(self._broken) from error
                raise
            # Still under the lock: two callers' events are adopted in the order they were published.
            self.dead_letters.extend(letters)
            if published:
                from core.publish import local_bus

                local_bus().adopt(published)
        if outcome == _ERROR:
            raise StreamPumpError(value)
        return value


def serve(channel: Channel, engine: EngineLink) -> None:
    """The indexer process's side: run the mapping's pump as ``ChildStreamPump`` asks, until the
    channel closes (the process exits when its link to the engine's child breaks: ``main``)."""
    to_parent, from_parent = channel
    server = _Server(engine)
    while True:
        try:
            verb, argument = pickle.loads(from_parent.recv_bytes())  # noqa: S301 - our parent
        except (EOFError, OSError):
            return
        answer = server.answer(verb, argument)
        try:
            to_parent.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        except OSError:
            return


class _Server:
    """The pump of the indexer's process, and what of its bus local mode has been handed."""

    def __init__(self, engine: EngineLink) -> None:
        self.engine = engine
        self.pump: StreamPump | None = None
        self.sent = 0  # the last change event of this process's bus handed to local mode

    def answer(self, verb: str, argument: Any) -> tuple[str, Any, list[dict[str, Any]], list[dict[str, Any]]]:
        """(outcome, value, the dead letters since the last answer, the change events published since)."""
        outcome = _OK
        value: Any = None
        try:
            value = self._do(verb, argument)
        except Exception as error:
            outcome, value = _ERROR, f"{type(error).__name__}: {error}"
        if self.pump is None:
            return outcome, value, [], []
        letters, self.pump.dead_letters = self.pump.dead_letters, []  # local mode keeps them from here
        published = _published_after(self.sent)
        if published:
            self.sent = int(published[-1]["seq"])
        return outcome, value, letters, published

    def _do(self, verb: str, argument: Any) -> Any:
        if verb == "start":
            self.pump = _start(argument, self.engine.call)
            return self.pump.stream_arn
        if self.pump is None:
            raise StreamPumpError("the indexer's pump has not been started")
        if verb == "drain":
            return self.pump.drain(until_quiet=bool(argument))
        if verb == "pending":
            return self.pump.pending()
        raise StreamPumpError(f"unknown request {verb!r}")


def main(argv: list[str]) -> int:
    """The indexer's process: ``argv`` names its descriptors (to the engine, from the engine, from local
    mode, to local mode)."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Local mode gone (stopped, killed, crashed): its end of standard input closes, even in the middle
    # of a drain, which would otherwise go on retrying against a stopped engine.
    threading.Thread(target=_exit_when_closed, args=(sys.stdin.buffer,), daemon=True).start()
    engine_requests, engine_answers, requests, answers = (int(argument) for argument in argv)
    link = EngineLink(
        Connection(engine_requests, readable=False),
        Connection(engine_answers, writable=False),
        on_broken=_exit_now,  # the engine has gone: nothing this process does could land
    )
    serve((Connection(answers, readable=False), Connection(requests, writable=False)), link)
    _exit_now("local mode closed the channel")
    return 0


def _exit_when_closed(stream: Any) -> None:
    while stream.read(4096):
        pass
    _exit_now("local mode has gone")


def _exit_now(why: str) -> NoReturn:
    """Exit at once, not after freeing what the indexer holds one object at a time."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _start(settings: dict[str, Any], forward: Forward) -> StreamPump:
    """The handlers' environment, the child's clients answered by its own tables, and the pump."""
    from taskbeacon.local.aws.engine import InProcessDispatch, use_lambdas_source
    from taskbeacon.local.aws.lambda_context import quiet_metrics_warning

    os.environ.update(settings["environment"])
    use_lambdas_source()
    quiet_metrics_warning()
    endpoint = str(settings["endpoint"])
    InProcessDispatch(endpoint, _not_here, forward=forward).register()
    pump = mapping_pump(engine_client(endpoint, settings["region"]), settings["table"], settings["region"])
    _ = pump.stream_arn  # no stream: StreamPumpError, in the answer
    return pump


def _published_after(seq: int) -> list[dict[str, Any]]:
    from core.publish import local_bus

    return local_bus().published(seq)


def _not_here(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The engine's child holds DynamoDB and its streams only: the indexer's other requests to the
    engine's endpoint are refused."""
    start_response("501 Not Implemented", [("Content-Type", "text/plain")])
    return [b"only DynamoDB and DynamoDB Streams are served to local mode's indexer process"]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
