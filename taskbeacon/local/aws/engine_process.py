"""The embedded engine's DynamoDB and Streams in a child process: local mode's second core.

Local mode is one Python process, and everything in it (the gateway, the handlers, the indexer, the
engine) takes turns on one core: at 1,000 demo tasks it was at 100 % of one core while the other
was idle. moto's DynamoDB was a third of that time. Here it runs in a child process that answers
DynamoDB and DynamoDB Streams requests (JSON protocol: one path, the action in ``X-Amz-Target``)
read from a pipe, one at a time, with the same patches (``engine_bounds``) and the same response
classes the in-process engine calls. A caller in local mode waits on the pipe without holding the
interpreter, so its other threads run meanwhile.

What stays in local mode's process: moto's ECS, EC2 and STS (the sweep's ECS and the demo's mirror
of it reach into their backends), and moto's HTTP server, which hands the DynamoDB requests of other
processes to the child (``forwarding_app``), so every client sees one table.

The child (``python -m taskbeacon.local.aws.engine_child``) ignores SIGINT (Ctrl-C reaches the whole
process group: local mode decides when to stop) and exits when its pipe closes, so it never outlives
local mode, killed or not. It answers a second caller too, on pipes of its own: local mode's indexer,
in a process of its own (taskbeacon/local/aws/indexer_mapping.py).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# DynamoDB and its streams: the X-Amz-Target prefixes the child answers, and the response class each.
JSON_HANDLERS: dict[str, tuple[str, str]] = {
    "DynamoDB_20120810": ("moto.dynamodb.responses", "DynamoHandler"),
    "DynamoDBStreams_20120810": ("moto.dynamodbstreams.responses", "DynamoDBStreamsHandler"),
}

Answer = tuple[int, dict[str, str], bytes]
Forward = Callable[[str, str, dict[str, str], bytes], Answer]  # who answers an engine request


def json_handler(target: Any) -> tuple[str, str] | None:
    """The response class of a request's ``X-Amz-Target`` (None: not DynamoDB or its streams)."""
    if target is None:
        return None
    text = target.decode() if isinstance(target, bytes) else str(target)
    return JSON_HANDLERS.get(text.split(".")[0])


def answer(method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
    """moto's answer to one DynamoDB or Streams request (in whichever process holds the tables)."""
    import importlib

    from moto.core.exceptions import HTTPException
    from moto.core.request import Request

    handler = json_handler(headers.get("X-Amz-Target") or headers.get("x-amz-target"))
    if handler is None:
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, b'{"__type":"UnknownOperationException"}'
    response_class = getattr(importlib.import_module(handler[0]), handler[1])
    normalized = Request.from_primitives(method, url, headers, body)
    try:
        status, answer_headers, data = response_class.dispatch(
            normalized, normalized.raw_url, normalized.headers
        )
    except HTTPException as error:
        status, answer_headers, data = error.code, error.get_headers(), error.get_body()
    if isinstance(data, str):
        data = data.encode()
    return int(status), {k: str(v) for k, v in dict(answer_headers).items()}, bytes(data)


class EngineGone(RuntimeError):
    """The engine's child process is not answering: it exited, or a call to it was cut short."""


PROBE = "PROBE"  # the readiness probe's method: no HTTP request has it
STOP_SECONDS = 2.0


class ChildLink:
    """One caller's pipe pair to a child process (the engine's, the indexer's): ``exchange`` sends one
    pickled message and waits for the pickled answer, one exchange at a time.

    An exchange cut short between its message and its answer (Ctrl-C, an error) would leave that answer
    in the pipe for the next caller, so the link is then broken for good (``on_broken`` may end the
    child too) and every later exchange raises ``EngineGone``: a child that answers the wrong request
    is worse than one that answers none.
    """

    def __init__(
        self,
        requests: Connection,
        answers: Connection,
        *,
        child: str = "the engine's child process",
        on_broken: Callable[[str], str] | None = None,
    ) -> None:
        self._requests = requests
        self._answers = answers
        self._child = child  # how errors name the other side
        self._on_broken = on_broken
        self._lock = threading.Lock()
        self._broken: str | None = None

    def exchange(self, message: Any) -> Any:
        frame = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        with self._lock:  # one exchange at a time, as the child answers them
            if self._broken is not None:
                raise EngineGone(self._broken)
            try:
                self._requests.send_bytes(frame)
                return pickle.loads(self._answers.recv_bytes())  # noqa: S301 - our own child
            except BaseException as error:
                why = f"a call to {self._child} ended: {error!r}"
                self._broken = self._on_broken(why) if self._on_broken is not None else why
                if isinstance(error, EOFError | OSError):
                    raise EngineGone(self._broken) from error
                raise

    def call(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        """One engine request, and its answer."""
        reply: Answer = self.exchange((method, url, headers, body))
        return reply

    def close(self, timeout: float = STOP_SECONDS, on_busy: Callable[[], object] | None = None) -> None:
        """Close both pipes once no exchange is in them (waits up to ``timeout``). An exchange still in
        them: ``on_busy`` first (a kill, which ends the read), so no thread reads a closed descriptor."""
        locked = self._lock.acquire(timeout=timeout)
        try:
            if not locked and on_busy is not None:
                on_busy()
            self._broken = self._broken or f"the link to {self._child} is closed"
            for connection in (self._requests, self._answers):
                connection.close()
        finally:
            if locked:
                self._lock.release()


class EngineProcess:
    """The child, and local mode's link to it (``call``).

    The child also answers a second caller on a pipe pair of its own: local mode's indexer, in a
    process of its own (taskbeacon/local/aws/indexer_mapping.py), which ``take_second_caller`` hands
    the pipes' ends to.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._link: ChildLink | None = None
        self._second: tuple[int, int] | None = None  # (requests' write end, answers' read end)

    def start(self) -> None:
        from multiprocessing.connection import Connection

        second_requests, second_to_child = os.pipe()  # (read end, write end)
        second_from_child, second_answers = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "taskbeacon.local.aws.engine_child",
                    str(second_requests),
                    str(second_answers),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                pass_fds=(second_requests, second_answers),
            )
        except BaseException:
            os.close(second_to_child)
            os.close(second_from_child)
            raise
        finally:
            os.close(second_requests)
            os.close(second_answers)
        self._second = (second_to_child, second_from_child)
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        # The connections own the pipe's ends from here (each closes its own descriptor once).
        self._link = ChildLink(
            Connection(os.dup(stdin.fileno()), readable=False),
            Connection(os.dup(stdout.fileno()), writable=False),
            on_broken=self._end,
        )
        stdin.close()
        stdout.close()
        try:
            self.call(PROBE, "", {}, b"")  # ready: moto imported and patched
        except BaseException:
            self.stop()
            raise

    def call(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Answer:
        if self._link is None:
            raise EngineGone("the engine's child process is not running")
        return self._link.call(method, url, headers, body)

    def take_second_caller(self) -> tuple[int, int]:
        """The second caller's ends of its pipes (requests' write end, answers' read end), once: the
        caller owns them from here (hands them to its process, then closes its copies)."""
        if self._second is None:
            raise EngineGone("the engine's second caller was already taken, or the engine is not running")
        second, self._second = self._second, None
        return second

    def _end(self, why: str) -> str:
        """Kill the child (the pipe may hold half a request or an unread answer); why, with its exit."""
        process = self._process
        if process is None:
            return why
        if process.poll() is None:
            process.kill()
        return f"{why} (exit code {process.wait()})"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        second, self._second = self._second, None
        for descriptor in second or ():
            os.close(descriptor)
        # Not in the middle of a call; a call that does not end (a hung child) is ended by the kill.
        if self._link is not None:
            self._link.close(on_busy=process.kill)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def forwarding_app(app: Callable[..., Any], engine: EngineProcess) -> Callable[..., Iterable[bytes]]:
    """moto's WSGI application, with DynamoDB and Streams requests answered by the child."""

    def forward(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if json_handler(environ.get("HTTP_X_AMZ_TARGET")) is None:
            return app(environ, start_response)
        from werkzeug.wrappers import Request

        body = Request(environ).get_data()  # a length or a chunked body alike
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        headers["X-Amz-Target"] = str(environ["HTTP_X_AMZ_TARGET"])
        url = f"http://{environ.get('HTTP_HOST', '127.0.0.1')}{environ.get('PATH_INFO') or '/'}"
        status, answer_headers, data = engine.call(str(environ["REQUEST_METHOD"]), url, headers, body)
        start_response(f"{status} {_reason(status)}", list(answer_headers.items()))
        return [data]

    return forward


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Answer"
