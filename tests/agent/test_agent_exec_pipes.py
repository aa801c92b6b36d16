"""exec's detached reporter holds none of the workload's pipes (issue 13 item 9).

A reader of the command's stdout and stderr must see end-of-file when the command exits, not when
the reporter's budget ends. These tests use real pipes, as a shell pipeline would, and judge by
behaviour, not by the clock: end-of-file arrives while the reporter is still alive (blocked on an
API that does not answer until the test lets it). The reporter is found by a marker in its
environment, which it inherits from the agent.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply
from test_agent_modes import TASK, agent_cmd, api_env, base_env, read_line, wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


def _alive(marker: str, workload: int = 0) -> list[int]:
    """Pids of live reporters: processes running the agent whose environment holds `marker` (the
    workload carries it too, but runs its own command after the exec; a zombie's environ reads
    empty). `workload`: the agent's own pid, excluded even before its exec."""
    entry = marker.encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == workload:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read().split(b"\0")
        except OSError:
            continue
        if entry in environ and b"taskbeacon_agent" in cmdline:
            pids.append(int(name))
    return pids


def _env(server: FakeServer, api: FakeServer | None) -> tuple[dict[str, str], str]:
    server.route("/v4/x/task", Reply(body=TASK))
    marker = f"TB_TEST_REPORTER={uuid.uuid4().hex}"
    key, value = marker.split("=")
    extra = api_env(api.url) if api is not None else {}
    env = base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", **extra)
    env[key] = value
    return env, marker


def _gate(api: FakeServer) -> threading.Event:
    """The API holds every request until the event is set: unreachable, as far as the agent sees."""
    gate = threading.Event()
    api.judge("/snapshots", lambda body: Reply(202, {"taskIds": ["x"]}) if gate.wait(60) else Reply(503))
    return gate


def _finish(marker: str, gate: threading.Event | None = None) -> None:
    if gate is not None:
        gate.set()
    if not wait_for(lambda: not _alive(marker), timeout=30):
        for pid in _alive(marker):  # only processes this test started carry its marker
            os.kill(pid, 9)
        pytest.fail("the reporter outlived its budget")


COMMAND = ["sh", "-c", "echo hi; echo oops >&2"]


@pytest.mark.parametrize(
    ("shape", "flags"),
    [("direct", []), ("direct", ["-v"]), ("pipeline", []), ("pipeline", ["-q"])],
    ids=["direct", "direct -v", "sh pipeline", "sh pipeline -q"],
)
def test_pipe_readers_see_eof_while_the_reporter_still_waits_for_the_api(
    server: FakeServer, api: FakeServer, shape: str, flags: list[str]
) -> None:
    gate = _gate(api)
    env, marker = _env(server, api)
    agent = agent_cmd("exec", *flags, "--budget", "10", "--", *COMMAND)
    if shape == "pipeline":  # `taskbeacon-agent exec -- cmd 2>&1 | cat`, as a shell runs it
        argv, expected = ["sh", "-c", '"$@" 2>&1 | cat', "sh", *agent], (b"hi\noops\n", b"")
    else:
        argv, expected = agent, (b"hi\n", b"oops\n")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=30)  # reads both pipes to end-of-file
        reporters = _alive(marker)
        assert reporters, "the reporter had already ended: end-of-file may have waited for it"
        # End-of-file on both pipes came while the reporter still waited for the API.
        assert (out, err) == expected
        assert proc.returncode == 0
    finally:
        proc.kill()
        _finish(marker, gate)
    assert api.requests and json.loads(api.requests[0]["body"])["reason"] == "start"


@pytest.mark.parametrize("quiet", [False, True], ids=["log", "-q"])
def test_a_log_line_reaches_the_workloads_stderr_while_the_workload_runs(
    server: FakeServer, api: FakeServer, quiet: bool
) -> None:
    api.route("/snapshots", Reply(400, {"code": "BadSnapshot"}))
    env, marker = _env(server, api)
    flags = ["-q"] if quiet else []
    # The command runs until the test closes its stdin.
    agent = agent_cmd("exec", *flags, "--", "sh", "-c", "cat >/dev/null; echo bye >&2")
    proc = subprocess.Popen(
        agent, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if quiet:
            assert wait_for(lambda: api.requests, timeout=20)
            # Answered, and the reporter ended: it had its line to write, and wrote none.
            assert wait_for(lambda: not _alive(marker, proc.pid), timeout=20)
        else:
            line = read_line(proc.stderr)
            assert line.startswith(b"taskbeacon-agent: API rejected the snapshot: HTTP 400"), line
        out, err = proc.communicate(b"", timeout=20)
        assert (out, err, proc.returncode) == (b"", b"bye\n", 0)
    finally:
        proc.kill()
        _finish(marker)


def test_the_reporter_does_not_follow_the_workload_to_a_new_stderr(
    server: FakeServer, api: FakeServer, tmp_path: Path
) -> None:
    # The workload points its fd 2 elsewhere (a daemon may even open a data file there): the
    # reporter's line belongs to the stderr the workload was started with, and nowhere else.
    gate = threading.Event()
    api.judge("/snapshots", lambda body: Reply(400, {"code": "Late"}) if gate.wait(60) else Reply(503))
    env, marker = _env(server, api)
    moved = tmp_path / "data"
    script = 'exec 2>"$0"; echo moved; cat >/dev/null'
    proc = subprocess.Popen(
        agent_cmd("exec", "--", "sh", "-c", script, str(moved)),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert read_line(proc.stdout) == b"moved\n"
        # Nobody holds the original stderr any more: not the workload, not the waiting reporter.
        assert read_line(proc.stderr) == b""
        assert _alive(marker, proc.pid)
        gate.set()  # now the API rejects the snapshot and the reporter has a line to write
        assert wait_for(lambda: api.requests, timeout=20)
        _finish(marker)
        assert moved.read_bytes() == b""
        out, _ = proc.communicate(b"", timeout=20)
        assert (out, proc.returncode) == (b"", 0)
    finally:
        proc.kill()
        _finish(marker, gate)


def test_a_regular_file_stderr_keeps_its_offset(server: FakeServer, api: FakeServer, tmp_path: Path) -> None:
    # `exec -- cmd 2>file` (no O_APPEND): the reporter's line and the command's later output must
    # both survive. Reopened, the file would have an offset of its own and one would overwrite the other.
    api.route("/snapshots", Reply(400, {"code": "BadSnapshot"}))
    env, marker = _env(server, api)
    log = tmp_path / "err.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            agent_cmd("exec", "--", "sh", "-c", "cat >/dev/null; echo after >&2"),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        assert wait_for(lambda: b"\n" in log.read_bytes(), timeout=20)
        proc.communicate(b"", timeout=20)
        lines = log.read_bytes().splitlines()
        assert len(lines) == 2 and lines[1] == b"after", lines
        assert lines[0].startswith(b"taskbeacon-agent: API rejected the snapshot: HTTP 400")
    finally:
        proc.kill()
        _finish(marker)


def test_dry_run_background_prints_to_the_workloads_stdout(server: FakeServer) -> None:
    env, marker = _env(server, None)
    proc = subprocess.Popen(
        agent_cmd("exec", "--dry-run", "--background", "--", "sh", "-c", "cat >/dev/null; echo end"),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        printed = b""
        while not printed.endswith(b"\n}\n"):
            line = read_line(proc.stdout)
            assert line, printed
            printed += line
        assert json.loads(printed)["task"] == TASK
        out, err = proc.communicate(b"", timeout=20)
        assert (out, err, proc.returncode) == (b"end\n", b"", 0)
    finally:
        proc.kill()
        _finish(marker)


def test_other_inherited_descriptors_are_not_held_either(server: FakeServer, api: FakeServer) -> None:
    # Say `exec -- cmd 3>&1` or a make jobserver: a pipe beyond 0/1/2 that the caller waits on.
    gate = _gate(api)
    env, marker = _env(server, api)
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            agent_cmd("exec", "--", "true"), env=env, pass_fds=(w,), stderr=subprocess.DEVNULL
        )
        os.close(w)
        w = -1
        assert proc.wait(timeout=20) == 0
        assert wait_for(lambda: api.requests, timeout=20)  # the reporter is there, waiting
        assert select.select([r], [], [], 20)[0]  # a hang guard: readable means data or end-of-file
        assert os.read(r, 1) == b""  # end-of-file: the reporter closed its copy
        assert _alive(marker)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        _finish(marker, gate)


def test_relay_writes_to_a_terminal_without_taking_it() -> None:
    import pty

    from taskbeacon_agent.detach import Relay

    master, slave = pty.openpty()
    try:
        relay = Relay(os.getpid(), slave)  # this process plays the workload
        assert relay.held == -1  # a terminal is reopened for each write, never kept
        relay.write("taskbeacon-agent: line\n")
        relay.flush()
        assert os.read(master, 100).replace(b"\r\n", b"\n") == b"taskbeacon-agent: line\n"
    finally:
        os.close(master)
        os.close(slave)
