"""The local gateway's server: a backlog for a fleet starting together, and silence when a client
hangs up (a reset or a broken pipe is not a traceback in the operator's terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from taskbeacon.local.aws.gateway import _GatewayServer


@pytest.fixture
def server() -> Iterator[_GatewayServer]:
    httpd = _GatewayServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    yield httpd
    httpd.server_close()


@pytest.mark.parametrize("hang_up", [BrokenPipeError, ConnectionResetError, ConnectionAbortedError])
def test_a_client_that_hangs_up_is_no_traceback(
    server: _GatewayServer, capsys: pytest.CaptureFixture[str], hang_up: type[OSError]
) -> None:
    try:
        raise hang_up("the agent went away")
    except OSError:
        server.handle_error(None, ("127.0.0.1", 40000))
    assert capsys.readouterr().err == ""


def test_anything_else_is_still_reported(server: _GatewayServer, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 40000))
    assert "ValueError: a bug" in capsys.readouterr().err


def test_the_backlog_holds_a_fleet_starting_together(server: _GatewayServer) -> None:
    assert server.request_queue_size >= 200  # 200 agents at once (issue 15); socketserver's default is 5
    assert server.daemon_threads
