"""A scriptable loopback HTTP server for agent tests: fixtures, and faults on demand."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Reply:
    def __init__(
        self,
        status: int = 200,
        body: Any = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        fault: str | None = None,  # "reset" | "huge" | "huge-undeclared" | "drip" | "truncated"
        stall: bool = False,
    ) -> None:
        """``stall``: hold the answer until the test releases the server (``FakeServer.release``) or
        ``STALL_CAP_SECONDS`` pass; a "drip" stalls by dripping until then. A test proves a client
        did not wait for a stall by its outcome (``stalls_ended`` still 0, or the answer it would
        have got), never by timing it."""
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.delay = delay
        self.fault = fault
        self.stall = stall


STALL_CAP_SECONDS = 60.0  # a stall nobody releases ends here, so a client that waits still finishes


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on purpose (timeouts, size caps) are expected here


class FakeServer:
    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.judges: dict[str, Callable[[bytes], Reply]] = {}  # path -> reply chosen by the request body
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends every stall (``stop`` sets it)
        self.stalls_ended = 0  # stalls that ran to their end: a client waited for them
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                replies = server.routes.get(self.path) or server.routes.get(self.path.split("?")[0])
                judge = server.judges.get(self.path)
                if judge is not None:
                    reply = judge(body)
                elif not replies:
                    reply = Reply(404, b'"not found"')
                else:
                    reply = replies[0] if len(replies) == 1 else replies.pop(0)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.stall and reply.fault != "drip":
                    server.release.wait(STALL_CAP_SECONDS)
                    server.stalls_ended += 1
                if reply.fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.fault == "huge":
                    self.send_header("Content-Length", str(64 * 1024 * 1024))
                    self.end_headers()
                    return
                if reply.fault == "truncated":
                    # Declares more bytes than it sends (the whole body, then 100 missing), then hangs up.
                    self.send_header("Content-Length", str(len(reply.body) + 100))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if reply.fault in ("huge-undeclared", "drip"):
                    self._stream(reply)
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def _stream(self, reply: Reply) -> None:
                """A body without a length: 12.5 MiB at once, or one byte every 0.1 s."""
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                drips = int(STALL_CAP_SECONDS / 0.1) if reply.stall else 50
                try:
                    for _ in range(200 if reply.fault == "huge-undeclared" else drips):
                        self.wfile.write(b"x" * (64 * 1024 if reply.fault == "huge-undeclared" else 1))
                        self.wfile.flush()
                        if reply.fault == "drip" and server.release.wait(0.1) and reply.stall:
                            break
                except OSError:
                    return  # the client hung up
                if reply.stall:
                    server.stalls_ended += 1

            do_GET = _handle
            do_POST = _handle

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def judge(self, path: str, decide: Callable[[bytes], Reply]) -> None:
        """Answer requests to ``path`` by what they carry (e.g. refuse one task wherever it is)."""
        self.judges[path] = decide

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
