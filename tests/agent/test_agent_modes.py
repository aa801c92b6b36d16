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
def on_term(signum, frame):
    print("TERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), "var": os.environ.get("MY_VAR")}), flush=True)
time.sleep(20)
"""


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("api", ["dry-run", "unreachable"])
def test_exec_keeps_pid_argv_env_and_signals(server: FakeServer, background: bool, api: str) -> None:
    server.route("/v4/x/task", Reply(body=TASK))
    env = base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", MY_VAR="kept value")
    args = ["exec", "--budget", "1"] + (["--background"] if background else [])
    if api == "dry-run":
        args.append("--dry-run")
    else:  # nothing listens at the API: the report fails, the command still starts on time
        env.update(
            TASKBEACON_ENDPOINT=f"http://127.0.0.1:{closed_port()}",
            AWS_REGION="eu-west-1",
            AWS_ACCESS_KEY_ID="AKID",
            AWS_SECRET_ACCESS_KEY=SECRET,
        )
    argv = ["arg one", "--flag", "$HOME", "ü"]
    t0 = time.monotonic()
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
        assert time.monotonic() - t0 < 1 + 3.0  # budget + interpreter start-ups
        info = json.loads(lines[-1])
        assert info == {"argv": argv, "pid": proc.pid, "var": "kept value"}
        # The command traps SIGTERM: the signal sent to the (exec'd) process reaches it.
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert "TERM" in out
        assert proc.returncode == 0
        if not background and api == "dry-run":  # the snapshot was printed before the command started
            assert '"reason": "start"' in "".join(lines)
        assert SECRET not in out + err
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
    modes.run_loop(cfg_for(env, out), "sidecar", threading.Event(), max_cycles=4)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "change", "stop"]
    assert sent[1]["task"]["KnownStatus"] == "STOPPED"


def test_sidecar_sigterm_cuts_retries_short_and_sends_stop(server: FakeServer, api: FakeServer) -> None:
    # The API is down: the start report would retry for its whole --budget (20 s). SIGTERM must end
    # that at once and leave only the stop snapshot's own budget, inside ECS's 30 s stop timeout.
    server.route("/v4/x/task", Reply(body=TASK))
    api.route("/snapshots", Reply(503))
    env = base_env(
        ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x",
        TASKBEACON_ENDPOINT=api.url,
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    args = ("sidecar", "--budget", "20", "--stop-budget", "1", "--timeout", "0.5")
    proc = subprocess.Popen(agent_cmd(*args), env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if api.requests:
                break
            time.sleep(0.02)
        assert api.requests, "the sidecar never tried to report"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - t0 < 1 + 0.5 + 2.0  # stop budget + one in-flight call + slack
        assert proc.returncode == 0
        assert json.loads(api.requests[-1]["body"])["reason"] == "stop"
        assert "final stop snapshot not sent" in err and SECRET not in err
    finally:
        proc.kill()


def test_with_tags_errors_logged_once(fixtures_dir: Path, server: FakeServer) -> None:
    body = (fixtures_dir / "v4-taskwithtags-ec2-errors.json").read_bytes()
    server.route("/v4/x/taskWithTags", Reply(body=body))
    out = io.StringIO()
    cfg = cfg_for({"ECS_CONTAINER_METADATA_URI_V4": server.url + "/v4/x"}, out, with_tags=True)
    modes.run_loop(cfg, "sidecar", threading.Event(), max_cycles=3)
    log = cfg.err.getvalue()  # type: ignore[attr-defined]
    assert log.count("could not read tags") == 1
    assert "ContainerInstanceTags: AccessDeniedException" in log and "ecs:ListTagsForResource" in log
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["reason"] for e in sent] == ["start", "stop"]
    assert sent[0]["task"]["Errors"] == json.loads(body)["Errors"]  # passed through as read


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
    modes.run_loop(cfg, "daemon", threading.Event(), max_cycles=4)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["reason"], e["tasks"]) for e in sent] == [("start", [a, b]), ("change", [b_stopped, c])]


def test_daemon_keepalive_and_chunks(server: FakeServer) -> None:
    tasks = [{"Arn": f"t{i:02d}", "Containers": [{"Name": "x" * 30_000}]} for i in range(12)]
    server.route("/v1/tasks", Reply(body={"Tasks": tasks}))
    out = io.StringIO()
    cfg = cfg_for({"TASKBEACON_INTROSPECTION_URL": server.url + "/v1"}, out, keepalive=0.01)
    modes.run_loop(cfg, "daemon", threading.Event(), max_cycles=2)
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    for reason in ("start", "keepalive"):
        batch = [e for e in sent if e["reason"] == reason]
        assert len(batch) == 2  # 12 x 30 KB does not fit one 256 KiB snapshot
        assert [t["Arn"] for e in batch for t in e["tasks"]] == [t["Arn"] for t in tasks]
        assert all(len(envelope.encode(e)) <= envelope.MAX_BODY_BYTES for e in batch)


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
