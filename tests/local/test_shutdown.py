"""Ctrl-C stops local mode (issue 15: within 3 s at any fleet size, measured by `make bench`), and a
client that hangs up mid-request is not a traceback. The timeouts here are safety nets only."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskbeacon.local.aws.gateway import Gateway
from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.principals import PrincipalRegistry

SAFETY_NET_SECONDS = 120


def test_ctrl_c_stops_local_mode_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from taskbeacon.cli.main import main; sys.exit(main())",
            "local",
            "--port",
            "0",
            "--demo-tasks",
            "0",
            "--env-file",
            str(tmp_path / "local.env"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a group of its own, as a terminal's foreground job
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Ready."):
            break
    os.killpg(process.pid, signal.SIGINT)
    try:
        rest, _ = process.communicate(timeout=SAFETY_NET_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "taskbeacon local: stopped" in output
    assert "Traceback" not in output


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway(PrincipalRegistry("111122223333"), LambdaRuntime(), "127.0.0.1", 0, region="us-east-1")
    server.start()
    yield server
    server.stop()


def _address(gateway: Gateway) -> tuple[str, int]:
    host, port = gateway.server.server_address[:2]
    return str(host), int(port)


def _answered(gateway: Gateway) -> bytes:
    with socket.create_connection(_address(gateway), timeout=SAFETY_NET_SECONDS) as client:
        client.sendall(b"GET /tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    return data


def test_a_client_that_hangs_up_mid_request_is_no_traceback(
    gateway: Gateway, capfd: pytest.CaptureFixture[str]
) -> None:
    for request in (
        b'POST /snapshots HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"half":',  # body cut short
        b"GET /tasks HTTP/1.1\r\nHost: x\r\n\r\n",  # hangs up before the answer (a reset)
    ):
        client = socket.create_connection(_address(gateway), timeout=SAFETY_NET_SECONDS)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        client.sendall(request)
        client.close()
    for _ in range(3):  # the gateway still answers, and its threads for the hung-up clients are done
        assert _answered(gateway).startswith(b"HTTP/1.1 403")
    time.sleep(0.2)  # not an assertion of speed: lets the hung-up connections' threads write, if they would
    err = capfd.readouterr().err
    assert "Traceback" not in err
