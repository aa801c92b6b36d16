"""Local mode's indexer in a process of its own (started by ``ChildStreamPump``,
taskbeacon/local/aws/indexer_mapping.py): the deployed mapping's pump and the real indexer handler, in
the environment local mode gave its own handlers, its engine calls sent to the engine's child as its
second caller.

It ignores Ctrl-C (local mode decides when to stop) and exits at once, in the middle of a drain too,
when its channel closes, when local mode is gone (its standard input, never written, closes), or when
its link to the engine breaks: a drain retried against a stopped engine would only print tracebacks.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from taskbeacon.local.aws.engine_process import ChildLink, Forward
from taskbeacon.local.aws.indexer_mapping import ERROR, OK, mapping_pump
from taskbeacon.local.aws.stream_pump import StreamPump, StreamPumpError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

Channel = tuple["Connection", "Connection"]  # (to local mode, from local mode)


def serve(channel: Channel, engine: ChildLink) -> None:
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

    def __init__(self, engine: ChildLink) -> None:
        self.engine = engine
        self.pump: StreamPump | None = None
        self.sent = 0  # the last change event of this process's bus handed to local mode

    def answer(self, verb: str, argument: Any) -> tuple[str, Any, list[dict[str, Any]], list[dict[str, Any]]]:
        """(outcome, value, the dead letters since the last answer, the change events published since)."""
        outcome = OK
        value: Any = None
        try:
            value = self._do(verb, argument)
        except Exception as error:
            outcome, value = ERROR, f"{type(error).__name__}: {error}"
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


def main(argv: list[str]) -> NoReturn:
    """The indexer's process: ``argv`` names its descriptors (to the engine, from the engine, from local
    mode, to local mode)."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Local mode gone (stopped, killed, crashed): its end of standard input closes, even in the middle
    # of a drain, which would otherwise go on retrying against a stopped engine.
    threading.Thread(target=_exit_when_closed, args=(sys.stdin.buffer,), daemon=True).start()
    engine_requests, engine_answers, requests, answers = (int(argument) for argument in argv)
    link = ChildLink(
        Connection(engine_requests, readable=False),
        Connection(engine_answers, writable=False),
        on_broken=_exit_now,  # the engine has gone: nothing this process does could land
    )
    serve((Connection(answers, readable=False), Connection(requests, writable=False)), link)
    _exit_now("local mode closed the channel")


def _exit_when_closed(stream: Any) -> None:
    while stream.read(4096):
        pass
    _exit_now("local mode has gone")


def _exit_now(why: str) -> NoReturn:
    """Exit at once, not after freeing what the indexer holds one object at a time (``why`` is for the
    reader: every way out is normal, nothing is printed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _start(settings: dict[str, Any], forward: Forward) -> StreamPump:
    """The handlers' environment, the child's clients answered by its own tables, and the pump."""
    from taskbeacon.local.aws.engine import InProcessDispatch, engine_client, use_lambdas_source
    from taskbeacon.local.aws.lambda_context import quiet_metrics_warning

    os.environ.update(settings["environment"])
    use_lambdas_source()
    quiet_metrics_warning()
    endpoint = str(settings["endpoint"])
    InProcessDispatch(endpoint, _not_here, forward=forward).register()
    # No stream: StreamPumpError, in the answer.
    return mapping_pump(engine_client(endpoint, settings["region"]), settings["table"], settings["region"])


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
