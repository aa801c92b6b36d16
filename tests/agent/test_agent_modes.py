"""Modes end to end: exec keeps argv/env/signals and fails open; sidecar changes and stop; secrets."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agent_fakeserver import FakeServer, Reply, closed_port

from taskbeacon_agent import envelope, modes, sources

AGENT_DIR = str(Path(__file__).resolve().parents[2] / "agent")
SECRET = "wJalrXUtnFEMI-K7MDENG-SECRETVALUE"
TOKEN = "IQoJb3JpZ2luX2VjSESSIONTOKENVALUE"
AUTH = "Bearer-AUTHORIZATION-TOKEN-VALUE"
CREDS_PATH = "/v2/credentials/5ecret-uuid-in-the-path"


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
def on_term(signum, frame):
    print("TERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), "var": os.environ.get("MY_VAR")}), flush=True)
time.sleep(20)
"""


@pytest.mark.parametrize("background", [False, True])
def test_exec_keeps_pid_argv_env_and_signals(server: FakeServer, background: bool) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    env = base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", MY_VAR="kept value")
    args = ["exec", "--dry-run", "--budget", "1"] + (["--background"] if background else [])
    argv = ["arg one", "--flag", "$HOME", "ü"]
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
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert "TERM" in out
        assert proc.returncode == 0
        if not background:  # the dry-run snapshot was printed before the command started
            assert '"reason": "start"' in "".join(lines)
    finally:
        proc.kill()


def test_exec_restores_default_sigpipe() -> None:
    # CPython ignores SIGPIPE; an ignored disposition survives exec, so the agent must reset it.
    out = subprocess.run(
        agent_cmd("exec", "--dry-run", "--budget", "0.2", "--", "sh", "-c", "grep SigIgn /proc/$$/status"),
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    mask = int(out.split()[-1], 16)
    assert not mask & (1 << (signal.SIGPIPE - 1))
    assert not mask & (1 << (signal.SIGXFSZ - 1))


@pytest.mark.parametrize(
    "fault",
    [Reply(200, delay=5), Reply(fault="reset"), Reply(500), Reply(body=b"garbage"), Reply(fault="drip")],
)
def test_exec_runs_command_within_budget_whatever_happens(
    server: FakeServer, api: FakeServer, fault: Reply
) -> None:
    server.route("/v4/x/task", fault)
    api.route("/snapshots", Reply(503, delay=5))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    t0 = time.monotonic()
    done = subprocess.run(
        agent_cmd("exec", "--budget", "0.5", "--", sys.executable, "-c", "print('ran')"),
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    elapsed = time.monotonic() - t0
    assert done.stdout.strip() == "ran" and done.returncode == 0
    assert elapsed < 0.5 + 3.0  # budget + interpreter start-ups, never the 5 s the server stalls
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

    assert run("--dry-run", "--budget", "1") == modes.EXIT_NO_SOURCE
    server.route("/v4/x/task", Reply(body=TASK))
    v4 = {"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}
    assert run(**v4) == modes.EXIT_CONFIG  # no TASKBEACON_ENDPOINT
    cfg = dict(v4, TASKBEACON_ENDPOINT=api.url, AWS_REGION="eu-west-1")
    assert run(**cfg) == modes.EXIT_CONFIG  # no credentials (and never IMDS)
    cfg.update(AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY=SECRET)
    api.route("/snapshots", Reply(400, {"error": {"code": "invalid", "message": "m", "field": "task"}}))
    assert run(**cfg) == modes.EXIT_REJECTED
    api.route("/snapshots", Reply(503))
    assert run("--budget", "0.5", **cfg) == modes.EXIT_UNREACHABLE
    api.route("/snapshots", Reply(202))
    assert run(**cfg) == modes.EXIT_OK


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
    for secret in (SECRET, TOKEN, AUTH, CREDS_PATH, "5ecret-uuid", str(token_file)):
        assert secret not in output
        assert secret not in bodies
    if creds_reply == "ok":
        assert api.requests and api.requests[0]["headers"]["X-Amz-Security-Token"] == TOKEN
        assert server.requests[-1]["headers"].get("Authorization") == AUTH or any(
            r["headers"].get("Authorization") == AUTH for r in server.requests
        )


def test_full_uri_must_be_loopback_or_https() -> None:
    from taskbeacon_agent import credentials

    with pytest.raises(credentials.CredentialsError) as info:
        credentials.from_container({"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example.com/creds"})
    assert "evil" not in str(info.value)
    for ok in ("http://127.0.0.2:1/x", "http://[::1]:1/x", "http://169.254.170.23/x", "http://localhost:1/x"):
        assert credentials._allowed_full_uri(ok)


# --- sidecar / daemon -------------------------------------------------------------------------


def cfg_for(env: dict[str, str], out: io.StringIO, **kw: object) -> modes.Config:
    return modes.Config(
        env, dry_run=True, interval=0.02, budget=1.0, timeout=0.5, out=out, err=io.StringIO(), **kw
    )  # type: ignore[arg-type]


def test_sidecar_sends_only_on_change_then_stop(server: FakeServer) -> None:
    reordered = dict(TASK, Containers=list(reversed(TASK["Containers"])), ClockDrift={"ClockErrorBound": 0.3})
    stopped = dict(TASK, KnownStatus="STOPPED")
    server.route("/v4/x/task", Reply(body=TASK), Reply(body=reordered), Reply(body=TASK), Reply(body=stopped))
    out = io.StringIO()
    stop = threading.Event()
    code = modes.run_loop(
        cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out), "sidecar", stop, max_cycles=5
    )
    assert code == 0
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert [e["sequence"] for e in sent] == [1, 2, 3]
    assert len({e["agent"]["instanceId"] for e in sent}) == 1


def test_sidecar_keepalive(server: FakeServer) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    out = io.StringIO()
    modes.run_loop(
        cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, keepalive=0.01),
        "sidecar",
        threading.Event(),
        max_cycles=3,
    )
    reasons = [json.loads(line)["reason"] for line in out.getvalue().splitlines()]
    assert reasons[0] == "start" and "keepalive" in reasons and reasons[-1] == "stop"


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


def test_daemon_posts_all_tasks(server: FakeServer) -> None:
    doc = {"Tasks": [{"Arn": "b", "Containers": []}, {"Arn": "a", "Containers": []}]}
    server.route("/v1/tasks", Reply(body=doc))
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, source="introspection")
    modes.run_loop(cfg, "daemon", threading.Event(), max_cycles=2)
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
