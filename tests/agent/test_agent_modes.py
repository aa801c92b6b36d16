"""Modes end to end: exec keeps argv/env/signals and fails open; sidecar changes and stop; secrets."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply, closed_port

from taskbeacon_agent import config, daemon, envelope, once, reporter, sidecar, sources

AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")
SECRET = "wJalrXUtnFEMI-K7MDENG-SECRETVALUE"
TOKEN = "IQoJb3JpZ2luX2VjSESSIONTOKENVALUE"
AUTH = "Bearer-AUTHORIZATION-TOKEN-VALUE"
CREDS_PATH = "/v2/credentials/5ecret-uuid-in-the-path"
APP_SECRET = "app-db-password-NEVER-SHIPPED"


def agent_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "taskbeacon_agent", *args]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    env["PYTHONPATH"] = AGENT_DIR
    env["TASKBEACON_TMDE_V2_URL"] = f"http://127.0.0.1:{closed_port()}/v2"
    env.update(extra)
    return env


TASK = {
    "Cluster": "default",
    "TaskARN": "arn:aws:ecs:eu-west-1:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
    "KnownStatus": "RUNNING",
    "Containers": [{"Name": "a", "DockerId": "1"}, {"Name": "b", "DockerId": "2"}],
}


# --- exec -----------------------------------------------------------------------------------

CHILD = """
import json, os, signal, sys, time
def on_signal(signum, frame):
    print("GOT", signal.Signals(signum).name, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
print(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), "var": os.environ.get("MY_VAR")}), flush=True)
time.sleep(20)
"""


def agent_cmd_sigint_default(*args: str) -> list[str]:
    """agent_cmd with SIGINT at its default disposition (a background job may inherit it ignored,
    and Python then installs no KeyboardInterrupt handler); exec keeps the pid."""
    code = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.executable, [sys.executable, '-m', 'taskbeacon_agent'] + sys.argv[1:])"
    )
    return [sys.executable, "-c", code, *args]


def api_env(api_url: str) -> dict[str, str]:
    return {
        "TASKBEACON_ENDPOINT": api_url,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": SECRET,
    }


def wait_for(cond: object, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def read_line(stream: object, timeout: float = 20.0) -> bytes:
    """One line from a pipe, unbuffered (the rest stays for communicate()); b"" at end-of-file."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"no line within {timeout:.0f} s; so far {line!r}"
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


# exec's command for exec_until_logged: runs until its stdin is closed.
WAITS_FOR_STDIN = [sys.executable, "-c", "import sys; sys.stdin.read(); print('ran')"]


def exec_until_logged(cmd: list[str], env: dict[str, str], until: str) -> tuple[int, str, str]:
    """Run `cmd` (an `exec` of WAITS_FOR_STDIN) until a line holding `until` shows on its stderr,
    then let the command end: (exit code, stdout, stderr). The detached reporter's log lines reach
    the command's stderr only while the command runs (the reporter holds none of its pipes), so a
    command that exits at once may end before the reporter has anything to say."""
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        seen = b""
        while until.encode() not in seen:
            line = read_line(proc.stderr, timeout=25)
            if not line:
                break
            seen += line
        out, err = proc.communicate(b"", timeout=20)
    finally:
        proc.kill()
    return proc.returncode, out.decode(), (seen + err).decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("report", ["dry-run", "unreachable", "api-202"])
def test_exec_keeps_pid_argv_env_and_signals(
    server: FakeServer, api: FakeServer, background: bool, report: str, sig: signal.Signals
) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    env = base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", MY_VAR="kept value")
    args = ["exec", "--budget", "1"] + (["--background"] if background else [])
    if report == "dry-run":
        args.append("--dry-run")
    elif report == "unreachable":  # nothing listens at the API: the report fails, the command still starts
        env.update(api_env(f"http://127.0.0.1:{closed_port()}"))
    else:
        api.route("/snapshots", Reply(202, {"taskIds": ["158d1c8083dd49d6b527399fd6414f5c"]}))
        env.update(api_env(api.url))
    # The command's own arguments look like the agent's: they must reach it untouched.
    argv = ["arg one", "--flag", "$HOME", "ü", "--", "--budget", "99", "--background"]
    proc = subprocess.Popen(
        agent_cmd(*args, "--", sys.executable, "-c", CHILD, *argv),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while True:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, proc.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith('{"argv"'):
                break
        info = json.loads(lines[-1])
        assert info == {"argv": argv, "pid": proc.pid, "var": "kept value"}
        # The command traps the signal: sent to the (exec'd) process, it reaches the command.
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        assert "GOT " + sig.name in out
        assert proc.returncode == 0
        if not background and report == "dry-run":  # the snapshot was printed before the command started
            assert '"reason": "start"' in "".join(lines)
        if report == "api-202":
            assert wait_for(lambda: api.requests)  # background: the detached reporter posts later
            body = json.loads(api.requests[0]["body"])
            assert (body["reason"], body["agent"]["mode"], body["task"]) == ("start", "exec", TASK)
            assert len(api.requests) == 1  # a 202 is final: no retry
        assert SECRET not in out + err
    finally:
        proc.kill()


def _ctrl_c_while_reading_metadata(
    server: FakeServer, args: list[str], env: dict[str, str]
) -> tuple[int, str, str]:
    """Run the agent while its metadata read stalls, send SIGINT once it is reading: (code, out, err)."""
    server.route("/v4/x/task", Reply(body=TASK, delay=8))
    proc = subprocess.Popen(
        agent_cmd_sigint_default(*args),
        env=base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: any(r["path"] == "/v4/x/task" for r in server.requests))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        return proc.returncode, out, err
    finally:
        proc.kill()


def test_exec_ctrl_c_during_report_does_not_start_the_command(server: FakeServer, tmp_path: Path) -> None:
    # Ctrl-C (SIGINT) while reporting means "stop", not "run the command anyway".
    marker = tmp_path / "started"
    command = ["sh", "-c", f"echo started > {marker}"]
    code, out, err = _ctrl_c_while_reading_metadata(
        server, ["exec", "--dry-run", "--budget", "20", "--", *command], {}
    )
    assert code == config.EXIT_INTERRUPTED == 130
    assert "interrupted; command not started" in err
    assert not marker.exists() and out == ""


def test_once_ctrl_c_during_report_exits_130(server: FakeServer, api: FakeServer) -> None:
    # Ctrl-C must end `once` with 130 (README), sending nothing.
    api.route("/snapshots", Reply(202))
    code, out, err = _ctrl_c_while_reading_metadata(server, ["once", "--budget", "20"], api_env(api.url))
    assert code == config.EXIT_INTERRUPTED == 130, err
    assert out == "" and "Traceback" not in err
    assert api.requests == []


def test_exec_background_starts_the_command_at_once_when_metadata_is_slow(
    server: FakeServer, api: FakeServer
) -> None:
    server.route("/v4/x/task", Reply(body=TASK, stall=True))
    api.route("/snapshots", Reply(202))
    proc = subprocess.Popen(
        agent_cmd("exec", "-q", "--background", "--", sys.executable, "-c", "print('ran', flush=True)"),
        env=base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", **api_env(api.url)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ran"  # type: ignore[union-attr]
        assert server.stalls_ended == 0  # the command ran while the metadata endpoint still stalled
        assert proc.wait(timeout=10) == 0
        # The detached reporter does read the metadata, but the command did not wait for it.
        assert wait_for(lambda: any(r["path"] == "/v4/x/task" for r in server.requests))
        assert not api.requests  # the metadata is still stalled: nothing could have been posted yet
    finally:
        proc.kill()


def test_exec_restores_default_sigpipe() -> None:
    # CPython ignores SIGPIPE; an ignored disposition survives exec, so the agent must reset it.
    # grep is exec'd directly, so /proc/self is the agent's own pid after exec.
    status = ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]
    out = subprocess.run(
        agent_cmd("exec", "--dry-run", "--budget", "0.2", "--", *status),
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    masks = {ln.split(":")[0]: int(ln.split()[-1], 16) for ln in out.splitlines() if ln.startswith("Sig")}
    assert not masks["SigIgn"] & (1 << (signal.SIGPIPE - 1))
    assert not masks["SigIgn"] & (1 << (signal.SIGXFSZ - 1))
    assert masks["SigBlk"] == 0  # no signal left blocked by the agent's report thread


@pytest.mark.parametrize("locale", [{}, {"LC_CTYPE": "C"}, {"LANG": "C.UTF-8", "LC_CTYPE": "POSIX"}])
def test_exec_environment_is_exactly_the_callers(locale: dict[str, str]) -> None:
    # Under the C locale CPython (PEP 538) adds LC_CTYPE=C.UTF-8 to its own environment; the
    # command must not inherit that. `cat /proc/self/environ` shows what execve handed it.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": AGENT_DIR, "MY_SECRET_CONFIG": "x y", **locale}
    env["TASKBEACON_TMDE_V2_URL"] = f"http://127.0.0.1:{closed_port()}/v2"
    out = subprocess.run(
        agent_cmd("exec", "-q", "--budget", "0.3", "--", "cat", "/proc/self/environ"),
        env=env,
        capture_output=True,
        timeout=20,
        check=True,
    ).stdout
    got = dict(entry.decode().split("=", 1) for entry in out.split(b"\0") if entry)
    assert got == env


@pytest.mark.parametrize(
    "fault",
    [
        Reply(body=TASK, stall=True),
        Reply(fault="reset"),
        Reply(500),
        Reply(body=b"garbage"),
        Reply(fault="drip", stall=True),
    ],
)
def test_exec_runs_command_within_budget_whatever_happens(
    server: FakeServer, api: FakeServer, fault: Reply
) -> None:
    server.route("/v4/x/task", fault)
    api.route("/snapshots", Reply(503, stall=True))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    done = subprocess.run(
        agent_cmd("exec", "--budget", "0.5", "--", sys.executable, "-c", "print('ran')"),
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.stdout.strip() == "ran" and done.returncode == 0
    # The command ran, and the agent gave up, while the metadata endpoint and the API still stalled.
    assert server.stalls_ended == 0 and api.stalls_ended == 0
    assert SECRET not in done.stderr


def test_exec_api_unreachable_and_no_config_still_runs() -> None:
    done = subprocess.run(
        agent_cmd("exec", "--", sys.executable, "-c", "import sys; sys.exit(7)"),
        env=base_env(TASKBEACON_ENDPOINT=f"http://127.0.0.1:{closed_port()}"),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 7  # the command's own exit code


def test_exec_missing_command_codes() -> None:
    done = subprocess.run(
        agent_cmd("exec", "--budget", "0.1", "--", "no-such-command-xyz"),
        env=base_env(),
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 127
    done = subprocess.run(agent_cmd("exec"), env=base_env(), capture_output=True, timeout=20, check=False)
    assert done.returncode == 2


def test_exec_background_posts_after_exec(server: FakeServer, api: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    api.route("/snapshots", Reply(202, {"taskIds": ["158d1c8083dd49d6b527399fd6414f5c"]}))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    done = subprocess.run(agent_cmd("exec", "--background", "--", "true"), env=env, timeout=20, check=False)
    assert done.returncode == 0
    for _ in range(100):
        if api.requests:
            break
        time.sleep(0.05)
    body = json.loads(api.requests[0]["body"])
    assert body["agent"]["mode"] == "exec" and body["task"] == TASK


# --- once / exit codes / secrets --------------------------------------------------------------


def test_once_dry_run_envelope_shape(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    server.route("/v4/x", Reply(body={"Name": "a"}))
    server.route("/v4/x/task/stats", Reply(body={"1": {}}))
    done = subprocess.run(
        agent_cmd("once", "--dry-run", "--with-stats"),
        env=base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x"),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    env = json.loads(done.stdout)
    assert env["schemaVersion"] == 1 and env["source"] == "tmde-v4" and env["reason"] == "start"
    assert env["sequence"] == 1 and env["agent"]["mode"] == "once" and len(env["agent"]["instanceId"]) == 36
    assert env["collectedAt"].endswith("Z") and len(env["collectedAt"]) == len("2026-11-28T09:14:03.123456Z")
    assert (env["task"], env["container"], env["stats"]) == (TASK, {"Name": "a"}, {"1": {}})


def test_once_exit_codes(server: FakeServer, api: FakeServer) -> None:
    def run(*args: str, **env: str) -> int:
        return subprocess.run(
            agent_cmd("once", *args), env=base_env(**env), capture_output=True, timeout=20, check=False
        ).returncode

    assert run("--dry-run", "--budget", "1") == config.EXIT_NO_SOURCE
    server.route("/v4/x/task", Reply(body=TASK))
    v4 = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}
    assert run(**v4) == config.EXIT_CONFIG  # no TASKBEACON_ENDPOINT
    cfg = dict(v4, TASKBEACON_ENDPOINT=api.url, AWS_REGION="eu-west-1")
    assert run(**cfg) == config.EXIT_CONFIG  # no credentials (and never IMDS)
    cfg.update(AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY=SECRET)
    api.route("/snapshots", Reply(400, {"error": {"code": "invalid", "message": "m", "field": "task"}}))
    assert run(**cfg) == config.EXIT_REJECTED
    api.route("/snapshots", Reply(503))
    assert run("--budget", "0.5", **cfg) == config.EXIT_UNREACHABLE
    api.route("/snapshots", Reply(202))
    assert run(**cfg) == config.EXIT_OK


def test_no_credentials_message_explains_no_imds(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    done = subprocess.run(
        agent_cmd("once"),
        env=base_env(
            ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
            TASKBEACON_ENDPOINT="https://a.execute-api.eu-west-1.amazonaws.com/p",
        ),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert "instance role" in done.stderr and "IMDS" in done.stderr


@pytest.mark.parametrize(
    "api_reply", [Reply(500), Reply(403), Reply(202), Reply(400, b'{"error":{"code":"x"}}')]
)
@pytest.mark.parametrize("creds_reply", ["ok", "fail"])
def test_secrets_never_in_output_or_body(
    server: FakeServer, api: FakeServer, api_reply: Reply, creds_reply: str
) -> None:
    token_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"tb-token-{os.getpid()}"
    token_file.write_text(AUTH)
    server.route("/v4/x/task", Reply(body=TASK))
    creds = {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": "2099-01-01T00:00:00Z",
    }
    server.route(CREDS_PATH, Reply(body=creds) if creds_reply == "ok" else Reply(500, b'"no"'))
    api.route("/snapshots", api_reply)
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=server.url + CREDS_PATH,
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file),
        DATABASE_PASSWORD=APP_SECRET,  # an application secret injected as an env var
    )
    done = subprocess.run(
        agent_cmd("once", "-v", "--budget", "1"),
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    dry = subprocess.run(
        agent_cmd("once", "--dry-run"), env=env, capture_output=True, text=True, timeout=20, check=False
    )
    token_file.unlink()
    output = done.stdout + done.stderr + dry.stdout + dry.stderr
    bodies = b"".join(r["body"] for r in api.requests).decode()
    for secret in (SECRET, TOKEN, AUTH, CREDS_PATH, "5ecret-uuid", str(token_file), APP_SECRET):
        assert secret not in output
        assert secret not in bodies
    if creds_reply == "ok":
        assert api.requests and api.requests[0]["headers"]["X-Amz-Security-Token"] == TOKEN
        assert server.requests[-1]["headers"].get("Authorization") == AUTH or any(
            r["headers"].get("Authorization") == AUTH for r in server.requests
        )


def agent_cmd_creds_host(host: str, *args: str) -> list[str]:
    """The agent with ECS_CREDENTIALS_HOST (169.254.170.2 on ECS) pointed at a loopback fake."""
    code = (
        "import sys; from taskbeacon_agent import credentials; "
        "credentials.ECS_CREDENTIALS_HOST = sys.argv.pop(1); "
        "from taskbeacon_agent.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, host, *args]


@pytest.mark.parametrize("uri", ["relative", "full"])
@pytest.mark.parametrize("mode", ["once", "exec", "sidecar"])
def test_secrets_never_leak_in_any_mode(
    server: FakeServer, api: FakeServer, tmp_path: Path, mode: str, uri: str
) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    creds = {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": "2099-01-01T00:00:00Z",
    }
    server.route(CREDS_PATH, Reply(body=creds))
    # 403 first: the agent refetches the credentials once (more chances to leak), then 202.
    api.route("/snapshots", Reply(403, b'{"error":{"code":"forbidden"}}'), Reply(202))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        DATABASE_PASSWORD=APP_SECRET,
    )
    token_file = tmp_path / "token"
    if uri == "relative":
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = CREDS_PATH
    else:
        token_file.write_text(AUTH)
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url + CREDS_PATH
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    if mode == "sidecar":
        proc = subprocess.Popen(
            agent_cmd_creds_host(server.url, "sidecar", "-v", "--interval", "0.1", "--stop-budget", "2"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(lambda: len(api.requests) >= 2)  # the 403, then the accepted start
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
        assert [json.loads(r["body"])["reason"] for r in api.requests][-1] == "stop"
    elif mode == "exec":
        cmd = agent_cmd_creds_host(server.url, mode, "-v", "--budget", "3", "--", *WAITS_FOR_STDIN)
        code, out, err = exec_until_logged(cmd, env, "sent start snapshot")
        assert (code, out) == (0, "ran\n"), err
    else:
        done = subprocess.run(
            agent_cmd_creds_host(server.url, mode, "-v", "--budget", "3"),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        out, err = done.stdout, done.stderr
        assert done.returncode == 0, err
    assert "sent start snapshot" in err  # -v logged, so there was output to leak into
    bodies = b"".join(r["body"] for r in api.requests).decode()
    for secret in (SECRET, TOKEN, AUTH, CREDS_PATH, "5ecret-uuid", str(token_file), APP_SECRET):
        assert secret not in out + err
        assert secret not in bodies
    assert api.requests[-1]["headers"]["X-Amz-Security-Token"] == TOKEN  # signed with those credentials
    fetches = [r for r in server.requests if r["path"] == CREDS_PATH]
    assert len(fetches) >= 2  # the 403 made the agent refetch
    # RELATIVE_URI needs no token (and gets none); FULL_URI sends it.
    assert {r["headers"].get("Authorization") for r in fetches} == {AUTH if uri == "full" else None}


def test_full_uri_must_be_loopback_or_https() -> None:
    from taskbeacon_agent import credentials

    with pytest.raises(credentials.CredentialsError) as info:
        credentials.from_container({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example.com/creds"})
    assert "evil" not in str(info.value)
    for ok in ("http://127.0.0.2:1/x", "http://[::1]:1/x", "http://169.254.170.23/x", "http://localhost:1/x"):
        assert credentials._allowed_full_uri(ok)


# --- sidecar / daemon -------------------------------------------------------------------------


def cfg_for(env: dict[str, str], out: io.StringIO, **kw: object) -> config.Config:
    return config.Config(
        env, dry_run=True, interval=0.02, budget=1.0, timeout=0.5, out=out, err=io.StringIO(), **kw
    )  # type: ignore[arg-type]


def test_sidecar_sends_only_on_change_then_stop(server: FakeServer) -> None:
    reordered = dict(TASK, Containers=list(reversed(TASK["Containers"])), ClockDrift={"ClockErrorBound": 0.3})
    stopped = dict(TASK, KnownStatus="STOPPED")
    server.route("/v4/x/task", Reply(body=TASK), Reply(body=reordered), Reply(body=TASK), Reply(body=stopped))
    out = io.StringIO()
    stop = threading.Event()
    code = sidecar.run(
        cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out), stop, max_cycles=5
    )
    assert code == 0
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert [e["sequence"] for e in sent] == [1, 2, 3]
    assert len({e["agent"]["instanceId"] for e in sent}) == 1


def test_sidecar_torn_read_is_not_a_change(server: FakeServer) -> None:
    # /task and the container document are two reads: a change landing between them must yield one
    # "change" snapshot (the task document's), not a spurious intermediate one.
    stopped = dict(TASK, KnownStatus="STOPPED")
    server.route("/v4/x/task", Reply(body=TASK), Reply(body=TASK), Reply(body=stopped))
    server.route(
        "/v4/x",
        Reply(body={"Name": "a", "KnownStatus": "RUNNING"}),
        Reply(body={"Name": "a", "KnownStatus": "STOPPED"}),
    )
    out = io.StringIO()
    env = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}
    sidecar.run(cfg_for(env, out), threading.Event(), max_cycles=4)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert sent[1]["task"]["KnownStatus"] == "STOPPED"


def test_sidecar_sigterm_cuts_retries_short_and_sends_stop(server: FakeServer, api: FakeServer) -> None:
    # The API is down: the start report would retry for its whole --budget (600 s). SIGTERM must end
    # that at once and leave only the stop snapshot's own budget (the 60 s wait below only catches a
    # sidecar that never stops; test_sidecar_stop_snapshot_is_bounded_by_stop_budget bounds the rest).
    server.route("/v4/x/task", Reply(body=TASK))
    api.route("/snapshots", Reply(503))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    args = ("sidecar", "--budget", "600", "--stop-budget", "1", "--timeout", "0.5")
    proc = subprocess.Popen(agent_cmd(*args), env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if api.requests:
                break
            time.sleep(0.02)
        assert api.requests, "the sidecar never tried to report"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert json.loads(api.requests[-1]["body"])["reason"] == "stop"
        assert "final stop snapshot not sent" in err and SECRET not in err
    finally:
        proc.kill()


def test_sidecar_keeps_the_source_it_found(server: FakeServer) -> None:
    # TMDE v4 fails for one cycle (agent restarting): the sidecar must retry v4, not fall back to v3,
    # whose differently shaped document would read as two "change"s (to v3 and back).
    v3_task = {k: v for k, v in TASK.items() if k != "KnownStatus"}
    server.route("/v4/x/task", Reply(body=TASK), Reply(400, b'"restarting"'), Reply(body=TASK))
    server.route("/v3/x/task", Reply(body=v3_task))
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x",
        "ECS_CONTAINER_METADATA_URI": server.url + "/v3/x",
    }
    out = io.StringIO()
    cfg = cfg_for(env, out)
    sidecar.run(cfg, threading.Event(), max_cycles=4)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["reason"], e["source"]) for e in sent] == [("start", "tmde-v4"), ("stop", "tmde-v4")]
    assert not any(r["path"].startswith("/v3/") for r in server.requests)
    assert [r["path"] for r in server.requests].count("/v4/x/task") == 5  # 4 polls + the stop
    assert "HTTP 400" in cfg.err.getvalue()  # type: ignore[attr-defined]


def test_sidecar_waits_for_the_advertised_v4_when_it_fails_at_start(server: FakeServer) -> None:
    # v4 is announced but not answering yet at the first poll: the sidecar must not settle on v3 for life.
    # Every attempt of the first cycle fails (a cycle retries up to 4 times), then v4 answers.
    server.route("/v4/x/task", *[Reply(500, b'"starting"')] * 4, Reply(body=TASK))
    server.route("/v3/x/task", Reply(body={k: v for k, v in TASK.items() if k != "KnownStatus"}))
    env = {
        "ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x",
        "ECS_CONTAINER_METADATA_URI": server.url + "/v3/x",
    }
    out = io.StringIO()
    sidecar.run(cfg_for(env, out), threading.Event(), max_cycles=3)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {e["source"] for e in sent} == {"tmde-v4"} and sent[0]["reason"] == "start"
    assert not any(r["path"].startswith("/v3/") for r in server.requests)


def test_sidecar_stop_snapshot_is_bounded_by_stop_budget(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Something the HTTP deadline cannot bound (a DNS lookup) hangs the stop snapshot: the sidecar
    # must still exit within --stop-budget, before ECS's SIGKILL.
    server.route("/v4/x/task", Reply(body=TASK))
    release = threading.Event()
    hang_ended: list[bool] = []
    real_send = reporter.Reporter.send

    def send(self: reporter.Reporter, collected: sources.Collected, reason: str, deadline: float) -> object:
        if reason == "stop":
            release.wait(60)
            hang_ended.append(True)
        return real_send(self, collected, reason, deadline)

    monkeypatch.setattr(reporter.Reporter, "send", send)
    out = io.StringIO()
    cfg = cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, stop_budget=0.5)
    try:
        assert sidecar.run(cfg, threading.Event(), max_cycles=1) == 0
        returned_while_hanging = not hang_ended
        reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    finally:
        release.set()
    assert returned_while_hanging  # it exited within --stop-budget, not when the hang ended
    assert reasons == ["start"]
    assert "final stop snapshot not sent: --stop-budget of 0.5s exhausted" in cfg.err.getvalue()  # type: ignore[attr-defined]


def test_cli_caps_stop_budget_below_ecs_stop_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    from taskbeacon_agent import cli

    parser = cli.build_parser()
    assert parser.parse_args(["sidecar", "--stop-budget", "25"]).stop_budget == 25.0
    for too_long in ("25.5", "30", "600"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(["sidecar", "--stop-budget", too_long])
        assert info.value.code == config.EXIT_USAGE
        err = capsys.readouterr().err
        assert "argument --stop-budget: must be at most 25 seconds" in err and "usage:" in err


def test_cli_daemon_rejects_source(capsys: pytest.CaptureFixture[str]) -> None:
    from taskbeacon_agent import cli

    for source in ("tmde-v4", "metadata-file"):
        with pytest.raises(SystemExit) as info:
            cli.main(["daemon", "--dry-run", "--source", source])
        assert info.value.code == config.EXIT_USAGE
        err = capsys.readouterr().err
        assert "usage:" in err and f"daemon does not take --source {source}" in err


def test_budget_timeout_exit_code_names_the_phase(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The report thread is abandoned when the budget runs out (e.g. a DNS lookup that never ends):
    # still stuck on the metadata means "no metadata" (3), stuck on the API means "unreachable" (6).
    from taskbeacon_agent import client

    release = threading.Event()

    def hang(*args: object, **kwargs: object) -> None:
        release.wait(30)
        raise sources.SourceError("too late")

    err = io.StringIO()
    try:
        with monkeypatch.context() as m:
            m.setattr(sources, "collect", hang)
            cfg = config.Config({}, dry_run=True, budget=0.3, out=io.StringIO(), err=err)
            assert once.run(cfg) == config.EXIT_NO_SOURCE
        assert "while reading" in err.getvalue()
        server.route("/v4/x/task", Reply(body=TASK))
        monkeypatch.setattr(client.Client, "send", hang)
        env = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x", **api_env("http://127.0.0.1:9")}
        cfg = config.Config(env, budget=0.5, timeout=0.2, out=io.StringIO(), err=err)
        assert once.run(cfg) == config.EXIT_UNREACHABLE
        assert "while sending" in err.getvalue()
    finally:
        release.set()


def test_with_tags_errors_logged_once(fixtures_dir: Path, server: FakeServer) -> None:
    body = (fixtures_dir / "v4-taskwithtags-ec2-errors.json").read_bytes()
    untagged = {k: v for k, v in json.loads(body).items() if k != "Errors"}
    server.route("/v4/x/task", Reply(body=untagged))
    server.route("/v4/x/taskWithTags", Reply(body=body))
    out = io.StringIO()
    cfg = cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, with_tags=True)
    sidecar.run(cfg, threading.Event(), max_cycles=3)
    log = cfg.err.getvalue()  # type: ignore[attr-defined]
    assert log.count("could not read tags") == 1
    assert "ContainerInstanceTags: AccessDeniedException" in log and "ecs:ListTagsForResource" in log
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "stop"]
    assert sent[0]["task"]["Errors"] == json.loads(body)["Errors"]  # passed through as read


def test_sidecar_reads_tags_only_for_snapshots_it_sends(server: FakeServer) -> None:
    # Each /taskWithTags read makes the ECS agent call ecs:ListTagsForResource (with the instance
    # role, on EC2): polls read /task; only start, change, keepalive and stop read the tags.
    stopped = dict(TASK, KnownStatus="STOPPED")
    server.route("/v4/x/task", Reply(body=TASK), Reply(body=TASK), Reply(body=TASK), Reply(body=stopped))
    server.route(
        "/v4/x/taskWithTags",
        Reply(body=dict(TASK, TaskTags={"team": "a"})),
        Reply(body=dict(stopped, TaskTags={"team": "a"})),
    )
    out = io.StringIO()
    cfg = cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, with_tags=True)
    sidecar.run(cfg, threading.Event(), max_cycles=5)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert all(e["task"]["TaskTags"] == {"team": "a"} for e in sent)  # every snapshot has the tags
    assert [e["task"]["KnownStatus"] for e in sent] == ["RUNNING", "STOPPED", "STOPPED"]
    paths = [r["path"] for r in server.requests]
    assert paths.count("/v4/x/task") == 5  # one per poll
    assert paths.count("/v4/x/taskWithTags") == 3  # one per snapshot sent, none for the quiet polls


def test_sidecar_keepalive(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    out = io.StringIO()
    sidecar.run(
        cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, keepalive=0.01),
        threading.Event(),
        max_cycles=3,
    )
    reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    assert reasons[0] == "start" and "keepalive" in reasons and reasons[-1] == "stop"


def test_keepalive_default_is_12_to_24_hours_drawn_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    # EventBridge carries the lifecycle: the default keepalive is long, with jitter (issue 8.6).
    from taskbeacon_agent import cli

    assert config.DEFAULT_KEEPALIVE == (12 * 3600.0, 24 * 3600.0)
    assert config.Config({}).keepalive == config.DEFAULT_KEEPALIVE
    for mode in ("sidecar", "daemon"):
        assert cli.build_parser().parse_args([mode]).keepalive == config.DEFAULT_KEEPALIVE
    draws = {config.keepalive_after(config.DEFAULT_KEEPALIVE) for _ in range(200)}
    assert len(draws) == 200 and all(12 * 3600 <= d <= 24 * 3600 for d in draws)
    assert config.keepalive_after(900.0) == 900.0  # a single number: exactly that


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("900", 900.0),
        ("15m", 900.0),
        ("6h", 21600.0),
        ("12h-24h", (43200.0, 86400.0)),
        ("60-120", (60.0, 120.0)),
    ],
)
def test_keepalive_flag_overrides_the_default(value: str, parsed: object) -> None:
    from taskbeacon_agent import cli

    for mode in ("sidecar", "daemon"):
        assert cli.build_parser().parse_args([mode, "--keepalive", value]).keepalive == parsed


@pytest.mark.parametrize("value", ["0", "x", "24h-12h", "5-"])
def test_keepalive_flag_rejects_nonsense(value: str) -> None:
    from taskbeacon_agent import cli

    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["sidecar", "--keepalive", value])
    assert info.value.code == config.EXIT_USAGE


def test_exec_sends_no_keepalive() -> None:
    # The entrypoint hook reports `start` once: it has no keepalive to configure.
    from taskbeacon_agent import cli

    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["exec", "--keepalive", "60", "--", "true"])
    assert info.value.code == config.EXIT_USAGE


def test_sidecar_draws_a_new_keepalive_after_every_snapshot(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    drawn: list[object] = []

    def fake_after(keepalive: object) -> float:
        drawn.append(keepalive)
        return 0.0 if len(drawn) % 2 else 3600.0  # due at once, then not for an hour, ...

    monkeypatch.setattr(config, "keepalive_after", fake_after)
    out = io.StringIO()
    env = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}
    sidecar.run(cfg_for(env, out, keepalive=(10.0, 20.0)), threading.Event(), max_cycles=4)
    reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    assert reasons == ["start", "keepalive", "stop"]  # the second draw (an hour) held the rest back
    assert drawn[:2] == [(10.0, 20.0), (10.0, 20.0)]


def test_daemon_keepalive_is_drawn_per_task(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [{"Arn": "a"}, {"Arn": "b"}]
    server.route("/v1/tasks", Reply(body={"Tasks": tasks}))
    draws = iter([0.0, 3600.0, 3600.0, 3600.0])  # a is due at once, b in an hour

    monkeypatch.setattr(config, "keepalive_after", lambda keepalive: next(draws))
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, keepalive=(1.0, 2.0))
    daemon.run(cfg, threading.Event(), max_cycles=2)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["reason"], [t["Arn"] for t in e["tasks"]]) for e in sent] == [
        ("start", ["a", "b"]),
        ("keepalive", ["a"]),
    ]


def test_accepted_reports_log_nothing_and_verbose_lines_stay_small(
    server: FakeServer, api: FakeServer
) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    api.route("/snapshots", Reply(202, {"taskIds": ["t" * 40] * 50}))  # a long answer
    env = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x", **api_env(api.url)}
    for verbose in (False, True):
        err = io.StringIO()
        cfg = config.Config(
            env, interval=0.02, budget=2.0, timeout=1.0, keepalive=0.01, verbose=verbose, err=err
        )
        sidecar.run(cfg, threading.Event(), max_cycles=3)
        lines = err.getvalue().splitlines()
        if not verbose:
            assert lines == []
        else:
            assert any("sent keepalive snapshot" in line for line in lines)
            assert max(len(line) for line in lines) <= 200


def test_sidecar_sigterm_sends_stop_and_exits(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    proc = subprocess.Popen(
        agent_cmd("sidecar", "--dry-run", "--interval", "0.1"),
        env=base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert first["reason"] == "start"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert json.loads(out.splitlines()[-1])["reason"] == "stop"
        assert proc.returncode == 0
    finally:
        proc.kill()


def test_daemon_sends_only_changed_tasks(server: FakeServer) -> None:
    a, b = {"Arn": "a", "KnownStatus": "RUNNING"}, {"Arn": "b", "KnownStatus": "RUNNING"}
    b_stopped = dict(b, KnownStatus="STOPPED")
    c = {"Arn": "c", "KnownStatus": "PENDING"}
    server.route(
        "/v1/tasks",
        Reply(body={"Tasks": [a, b]}),
        Reply(body={"Tasks": [b, a]}),  # same tasks, other order: nothing to send
        Reply(body={"Tasks": [a, b_stopped, c]}),
        Reply(body={"Tasks": [a, c]}),  # b cleaned up by the ECS agent: nothing to send
    )
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, source="introspection")
    daemon.run(cfg, threading.Event(), max_cycles=4)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["reason"], e["tasks"]) for e in sent] == [("start", [a, b]), ("change", [b_stopped, c])]


def test_daemon_keepalive_and_chunks(server: FakeServer) -> None:
    tasks = [{"Arn": f"t{i:02d}", "Containers": [{"Name": "x" * 30_000}]} for i in range(12)]
    server.route("/v1/tasks", Reply(body={"Tasks": tasks}))
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, keepalive=0.01)
    daemon.run(cfg, threading.Event(), max_cycles=2)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    for reason in ("start", "keepalive"):
        batch = [e for e in sent if e["reason"] == reason]
        assert len(batch) == 2  # 12 x 30 KB does not fit one 256 KiB snapshot
        assert [t["Arn"] for e in batch for t in e["tasks"]] == [t["Arn"] for t in tasks]
        assert all(len(envelope.encode(e)) <= envelope.MAX_BODY_BYTES for e in batch)


def test_daemon_isolates_a_task_the_api_refuses(server: FakeServer, api: FakeServer) -> None:
    """The API checks a report whole: one refused task must not hold its neighbours back forever."""
    a, bad, c = ({"Arn": arn, "KnownStatus": "RUNNING"} for arn in ("a", "bad", "c"))
    bad_changed = dict(bad, KnownStatus="STOPPED")
    server.route(
        "/v1/tasks",
        Reply(body={"Tasks": [a, bad, c]}),
        Reply(body={"Tasks": [a, bad, c]}),  # nothing changed: the refused task is not resent
        Reply(body={"Tasks": [a, bad_changed, c]}),  # it changed: worth one more try, alone
    )
    api.judge("/snapshots", lambda body: Reply(413 if b'"bad"' in body else 202, {"error": {}}))
    env = {"TASKBEACON_INTROSPECTION_URL": server.url + "/v1", **api_env(api.url)}
    err = io.StringIO()
    cfg = config.Config(env, interval=0.02, budget=2.0, timeout=1.0, out=io.StringIO(), err=err)
    daemon.run(cfg, threading.Event(), max_cycles=3)
    posted = [[t["Arn"] for t in json.loads(r["body"])["tasks"]] for r in api.requests]
    assert posted == [["a", "bad", "c"], ["a"], ["bad"], ["c"], ["bad"]]
    assert "413" in err.getvalue()


def test_chunk_tasks_limits() -> None:
    small = [{"Arn": str(i)} for i in range(60)]
    assert [len(c) for c in envelope.chunk_tasks(small)] == [25, 25, 10]
    huge = [{"Arn": "big", "x": "y" * 300_000}, {"Arn": "small"}]
    assert [len(c) for c in envelope.chunk_tasks(huge)] == [1, 1]
    assert envelope.chunk_tasks([]) == []


def test_daemon_posts_all_tasks(server: FakeServer) -> None:
    doc = {"Tasks": [{"Arn": "b", "Containers": []}, {"Arn": "a", "Containers": []}]}
    server.route("/v1/tasks", Reply(body=doc))
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, source="introspection")
    daemon.run(cfg, threading.Event(), max_cycles=2)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(sent) == 1 and sent[0]["tasks"] == doc["Tasks"] and "task" not in sent[0]
    assert sent[0]["source"] == "introspection" and sent[0]["agent"]["mode"] == "daemon"


def test_fingerprint_ignores_order_and_volatile_fields() -> None:
    a = sources.Collected("tmde-v4", task=TASK, stats={"x": 1})
    b = sources.Collected(
        "tmde-v4",
        task=dict(TASK, Containers=TASK["Containers"][::-1], EphemeralStorageMetrics={"Utilized": 5}),
        stats={"x": 2},
    )
    assert envelope.fingerprint(a) == envelope.fingerprint(b)
    c = sources.Collected("tmde-v4", task=dict(TASK, KnownStatus="STOPPED"))
    assert envelope.fingerprint(a) != envelope.fingerprint(c)


def _health(status: str, output: str) -> dict[str, object]:
    return {"status": status, "statusSince": "2026-01-01T00:00:00Z", "output": output}


def test_fingerprint_ignores_health_output_request_ids_and_clock_drift() -> None:
    containers = [
        {"Name": "a", "DockerId": "1", "Health": _health("HEALTHY", "200 OK in 3 ms")},
        {"Name": "b", "DockerId": "2", "ClockDrift": {"ClockErrorBound": 0.1}},
    ]
    errors = [{"ErrorField": "TaskTags", "ErrorCode": "ThrottlingException", "RequestId": "r-1"}]
    drift = {"ClockErrorBound": 0.3, "ReferenceTimestamp": "2026-01-01T00:00:00Z"}
    base = dict(TASK, Containers=containers, Errors=errors, ClockDrift=drift)
    fp = envelope.fingerprint(sources.Collected("tmde-v4", task=base))
    same = dict(
        base,
        Containers=[
            {"Name": "b", "DockerId": "2", "ClockDrift": {"ClockErrorBound": 0.7}},
            {"Name": "a", "DockerId": "1", "Health": _health("HEALTHY", "200 OK in 9 ms")},
        ],
        Errors=[dict(errors[0], RequestId="r-2")],
        ClockDrift={"ClockErrorBound": 0.9, "ReferenceTimestamp": "2026-01-01T00:01:00Z"},
    )
    assert envelope.fingerprint(sources.Collected("tmde-v4", task=same)) == fp
    # ... while what those fields sit next to does count.
    for changed in (
        dict(base, Containers=[dict(containers[0], Health=_health("UNHEALTHY", "x")), containers[1]]),
        dict(base, Errors=[dict(errors[0], ErrorCode="AccessDeniedException")]),
        dict(base, Errors=[]),
    ):
        assert envelope.fingerprint(sources.Collected("tmde-v4", task=changed)) != fp


def test_sidecar_volatile_fields_send_nothing_until_health_changes(server: FakeServer) -> None:
    def doc(output: str, request_id: str, bound: float, status: str = "HEALTHY") -> dict[str, object]:
        return dict(
            TASK,
            Containers=[{"Name": "a", "DockerId": "1", "Health": _health(status, output)}],
            Errors=[{"ErrorField": "TaskTags", "ErrorCode": "ThrottlingException", "RequestId": request_id}],
            ClockDrift={"ClockErrorBound": bound},
        )

    server.route(
        "/v4/x/task",
        Reply(body=doc("ok 1", "r-1", 0.1)),
        Reply(body=doc("ok 2", "r-1", 0.1)),  # Health.output
        Reply(body=doc("ok 2", "r-2", 0.1)),  # Errors[].RequestId
        Reply(body=doc("ok 2", "r-2", 0.5)),  # ClockDrift
        Reply(body=doc("fail", "r-3", 0.6, status="UNHEALTHY")),  # a real change
    )
    out = io.StringIO()
    sidecar.run(
        cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out),
        threading.Event(),
        max_cycles=5,
    )
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert sent[1]["task"]["Containers"][0]["Health"]["status"] == "UNHEALTHY"


def test_container_pulled_but_not_created_has_empty_docker_id(server: FakeServer) -> None:
    # Before the container is created the ECS agent reports DockerId "" (or omits it).
    pulled = dict(
        TASK,
        KnownStatus="PENDING",
        Containers=[
            {"Name": "app", "DockerId": "", "KnownStatus": "PULLED"},
            {"Name": "log", "KnownStatus": "PULLED"},
        ],
    )
    reordered = dict(pulled, Containers=pulled["Containers"][::-1])
    created = dict(
        pulled,
        Containers=[
            {"Name": "app", "DockerId": "d1", "KnownStatus": "CREATED"},
            {"Name": "log", "DockerId": "d2", "KnownStatus": "CREATED"},
        ],
    )
    fp = envelope.fingerprint(sources.Collected("tmde-v4", task=pulled))
    assert envelope.fingerprint(sources.Collected("tmde-v4", task=reordered)) == fp
    assert envelope.fingerprint(sources.Collected("tmde-v4", task=created)) != fp
    server.route("/v4/x/task", Reply(body=pulled), Reply(body=reordered), Reply(body=created))
    out = io.StringIO()
    env = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}
    sidecar.run(cfg_for(env, out), threading.Event(), max_cycles=3)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert sent[0]["task"] == pulled and sent[1]["task"] == created


def test_oversized_envelope_drops_stats_first() -> None:
    env = {"task": {"a": 1}, "container": {"b": 2}, "stats": {"x": "y" * 300_000}}
    body = json.loads(envelope.encode(env))
    assert "stats" not in body and body["container"] == {"b": 2}


def test_help_documents_env_flags_and_exit_codes() -> None:
    out = subprocess.run(
        agent_cmd("once", "--help"), env=base_env(), capture_output=True, text=True, timeout=20, check=False
    ).stdout
    needles = "TASKBEACON_ENDPOINT TASKBEACON_REGION TASKBEACON_TMDE_V2_URL TASKBEACON_INTROSPECTION_URL"
    needles += " AWS_CONTAINER_CREDENTIALS_FULL_URI --with-tags --dry-run --source IMDS"
    for needle in [*needles.split(), "exit codes"]:
        assert needle in out


def test_cli_source_names_match_sources_module() -> None:
    from taskbeacon_agent import cli

    assert cli.SOURCES == sources.SOURCES


def test_readme_exit_codes_match_the_constants() -> None:
    import re

    from taskbeacon_agent import cli

    constants = {v for k, v in vars(config).items() if k.startswith("EXIT_") and isinstance(v, int)}
    readme = (Path(AGENT_DIR) / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    table = {int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert table == constants
    help_codes = cli.ENV_HELP.split("exit codes:", 1)[1]
    assert {int(m) for m in re.findall(r"^  (\d+)  ", help_codes, flags=re.M)} == constants


@pytest.mark.parametrize(
    ("hint", "option", "expected"),
    [
        ("skip", "auto", ["start"]),  # ECS's STOPPED event carries the stop: no request for it
        ("send", "auto", ["start", "stop"]),
        (None, "auto", ["start", "stop"]),  # an ingest that says nothing: the safe default sends it
        ("skip", "always", ["start", "stop"]),
        ("send", "never", ["start"]),
    ],
)
def test_sidecar_stop_report_follows_the_ingest_answer(
    server: FakeServer, api: FakeServer, hint: str | None, option: str, expected: list[str]
) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    answer: dict[str, object] = {"taskIds": ["t"], "changed": ["t"]}
    if hint is not None:
        answer["stopReport"] = hint
    api.route("/snapshots", Reply(202, body=answer))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    args = ("sidecar", "--stop-report", option, "--stop-budget", "2", "--timeout", "0.5")
    proc = subprocess.Popen(agent_cmd(*args), env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(500):
            if api.requests:
                break
            time.sleep(0.02)
        assert api.requests, "the sidecar never reported"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert [json.loads(r["body"])["reason"] for r in api.requests] == expected
    finally:
        proc.kill()
