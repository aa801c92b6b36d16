"""The indexer's event source mapping in local mode: the table's stream delivered to the indexer
handler, in local mode's process or beside the tables in the engine's child process.

Deployed, the indexer is a Lambda function of its own, in execution environments of its own. Local
mode ran it in its own process, beside the gateway and the ingest and events handlers, where it took
half the interpreter's time: at 1,000 demo tasks the snapshots and the events were delivered twice
as fast with the indexer held back (docs/performance.md). With the embedded engine's tables in a
child process (taskbeacon/local/aws/engine_process.py), the indexer runs there instead
(``ChildStreamPump``): its engine calls reach moto without a pipe, and local mode's process keeps
only what the callers wait for.

``ChildStreamPump`` has a pump's face in local mode (``drain``, ``pending``, ``dead_letters``,
``streams``, ``stream_arn``), so the runtime's background delivery, ``settle``, the sweep and
``reindex --from-failures`` work on either. Each drain's dead letters and the change events the
indexer published come back with its answer, into local mode's list and its in-process bus.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskbeacon.local.aws.engine_process import Answer, EngineGone
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

Channel = tuple["Connection", "Connection"]  # (to the other side, from the other side)
Forward = Callable[[str, str, dict[str, str], bytes], Answer]


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
    """The mapping's pump in the engine's child process, driven over its indexer channel.

    One call at a time. A call cut short between its request and its answer leaves that answer in the
    pipe, so the channel is then closed for good, as ``EngineProcess`` does with its own.
    Raises ``StreamPumpError`` when the table has no stream (as ``StreamPump.stream_arn`` does).
    """

    on_failure: OnFailure = ON_FAILURE

    def __init__(self, channel: Channel, endpoint: str, table_name: str, region: str) -> None:
        self.table_name = table_name
        self.region = region
        self.client = engine_client(endpoint, region)
        self.streams = streams_client_for(self.client)  # local mode's own reads (reindex --from-failures)
        self.dead_letters: list[dict[str, Any]] = []
        self._channel = channel
        self._lock = threading.Lock()
        self._broken: str | None = None
        # The child's handlers get the environment local mode gave its own (the stack's variables).
        start = {"environment": dict(os.environ), "endpoint": endpoint, "table": table_name, "region": region}
        self.stream_arn: str = self._call("start", start)

    def drain(self, *, until_quiet: bool = True) -> DrainResult:
        result: DrainResult = self._call("drain", until_quiet)
        return result

    def pending(self) -> int:
        count: int = self._call("pending", None)
        return count

    def _call(self, verb: str, argument: Any) -> Any:
        to_child, from_child = self._channel
        with self._lock:
            if self._broken is not None:
                raise EngineGone(self._broken)
            try:
                to_child.send_bytes(pickle.dumps((verb, argument), pickle.HIGHEST_PROTOCOL))
                outcome, value, letters, published = pickle.loads(from_child.recv_bytes())  # noqa: S301
            except BaseException as error:
                self._broken = f"a call to the engine's child process ended: {error!r}"
                if isinstance(error, EOFError | OSError):
                    raise EngineGone(self._broken) from error
                raise
        self.dead_letters.extend(letters)
        if published:
            from core.publish import local_bus

            local_bus().adopt(published)
        if outcome == "error":
            raise StreamPumpError(value)
        return value


def serve(channel: Channel, forward: Forward) -> None:
    """The child's side: run the mapping's pump as ``ChildStreamPump`` asks, until the channel closes.

    ``forward`` answers an engine request in the child (under its engine lock)."""
    to_parent, from_parent = channel
    pump: StreamPump | None = None
    sent = 0  # the last change event of the child's bus handed to local mode
    while True:
        try:
            verb, argument = pickle.loads(from_parent.recv_bytes())  # noqa: S301 - our parent
        except (EOFError, OSError):
            return
        outcome = "ok"
        value: Any = None
        try:
            if verb == "start":
                pump = _start(argument, forward)
                value = pump.stream_arn
            elif pump is None:
                raise StreamPumpError("the indexer's pump has not been started")
            elif verb == "drain":
                value = pump.drain(until_quiet=bool(argument))
            elif verb == "pending":
                value = pump.pending()
            else:
                raise StreamPumpError(f"unknown request {verb!r}")
        except Exception as error:
            outcome, value = "error", f"{type(error).__name__}: {error}"
        letters: list[dict[str, Any]] = []
        if pump is not None:
            letters, pump.dead_letters = pump.dead_letters, []  # local mode keeps them from here
        published = _published_after(sent) if pump is not None else []
        if published:
            sent = int(published[-1]["seq"])
        try:
            to_parent.send_bytes(pickle.dumps((outcome, value, letters, published), pickle.HIGHEST_PROTOCOL))
        except OSError:
            return


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
    """The child holds DynamoDB and its streams only: any other request to the engine is refused."""
    start_response("501 Not Implemented", [("Content-Type", "text/plain")])
    return [b"only DynamoDB and DynamoDB Streams are served in the engine's child process"]
