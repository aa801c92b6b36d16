"""exec's default: the workload starts at once, a detached reporter posts `start`; what exec loads
before the workload starts; the argparse-free option parser agrees with the full CLI parser."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from agent_fakeserver import FakeServer, Reply
from test_agent_modes import AGENT_DIR, TASK, agent_cmd, api_env, base_env, wait_for

from taskbeacon_agent import cli, config
from taskbeacon_agent import exec as exec_mode


def _env(server: FakeServer, api: FakeServer) -> dict[str, str]:
    server.route("/v4/x/task", Reply(body=TASK))
    return base_env(ECS_CONTAINER_METADATA_URI_V4=server.url + "/v4/x", **api_env(api.url))


def test_default_exec_does_not_wait_for_a_slow_api_and_the_report_still_lands(
    server: FakeServer, api: FakeServer
) -> None:
    api.route("/snapshots", Reply(202, {"taskIds": ["x"]}, delay=6))
    # The command exits at once; nothing waits for the reporter, which is in its own session.
    proc = subprocess.Popen(
        agent_cmd("exec", "--", sys.executable, "-c", "print('ran')"),
        env=_env(server, api),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ran"  # type: ignore[union-attr]
        assert proc.wait(timeout=5) == 0  # the API answers only after 6 s: exec did not wait for it
        assert wait_for(lambda: api.requests, timeout=15)
        body = json.loads(api.requests[0]["body"])
        assert (body["reason"], body["agent"]["mode"], body["task"]) == ("start", "exec", TASK)
    finally:
        proc.kill()


def test_detached_reporter_does_not_hold_the_callers_pipes_with_q(
    server: FakeServer, api: FakeServer
) -> None:
    # `$(taskbeacon-agent exec -q -- cmd)` reads the output to its end: the reporter (still waiting
    # for the API) must not keep stdout or stderr open.
    api.route("/snapshots", Reply(202, delay=8))
    done = subprocess.run(
        agent_cmd("exec", "-q", "--", "echo", "out"),
        env=_env(server, api),
        capture_output=True,
        text=True,
        timeout=6,
        check=True,
    )
    assert (done.stdout, done.stderr) == ("out\n", "")
    assert wait_for(lambda: api.requests, timeout=15)


def test_foreground_reports_before_the_command_starts(server: FakeServer, api: FakeServer) -> None:
    api.route("/snapshots", Reply(202, {"taskIds": ["x"]}))
    seen = api.requests
    code = "import sys; print(len(sys.argv))"
    done = subprocess.run(
        agent_cmd("exec", "--foreground", "--", sys.executable, "-c", code),
        env=_env(server, api),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert done.stdout.strip() == "1"
    assert len(seen) == 1  # posted (and answered) before exec: no waiting needed here
    assert json.loads(seen[0]["body"])["reason"] == "start"


def test_background_and_foreground_exclude_each_other() -> None:
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["exec", "--background", "--foreground", "--", "true"])
    assert info.value.code == config.EXIT_USAGE


ARGVS = [
    ["--", "true"],
    ["true", "-v", "--budget", "3"],
    ["-q", "--", "sh", "-c", "echo --budget 9"],
    ["--dry-run", "--", "true"],
    ["--dry-run", "--background", "--", "true"],
    ["--foreground", "--", "true"],
    ["--background", "--budget", "4", "--timeout", "0.5", "--", "true"],
    ["--source", "tmde-v2", "--with-tags", "--with-stats", "-v", "--", "true", "--", "x"],
    ["--source", "introspection", "--", "true"],
    ["--budget", "1", "--budget", "7", "--quiet", "--verbose", "--", "true"],
    ["--", "--", "x"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=[" ".join(a) for a in ARGVS])
def test_fast_exec_parser_agrees_with_argparse(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = exec_mode.parse(argv, {})
    assert fast is not None
    seen: list[tuple[config.Config, list[str], bool]] = []

    def run(cfg: config.Config, command: list[str], background: bool = False) -> int:
        seen.append((cfg, command, background))
        return 0

    monkeypatch.setattr(exec_mode, "run", run)
    assert cli._main(["exec", *argv]) == 0  # the argparse path, without the fast one
    (slow,) = seen
    fields = ("source", "with_tags", "with_stats", "dry_run", "budget", "timeout", "quiet", "verbose")
    assert {f: getattr(fast[0], f) for f in fields} == {f: getattr(slow[0], f) for f in fields}
    assert fast[1:] == slow[1:]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--budget=1", "--", "true"],
        ["--back", "--", "true"],
        ["--budget", "0", "--", "true"],
        ["--budget", "-1", "--", "true"],
        ["--source", "nope", "--", "true"],
        ["--background", "--foreground", "--", "true"],
        ["--budget"],
        ["-qv", "--", "true"],
        ["--"],
    ],
)
def test_fast_exec_parser_leaves_the_unusual_to_argparse(argv: list[str]) -> None:
    assert exec_mode.parse(argv, {}) is None


BEFORE_EXEC = r"""
import os, sys
def execvp(file, args):
    sys.stdout.write(" ".join(sorted(sys.modules)) + "\n")
    sys.stdout.flush()
    os._exit(0)
def no_fork():
    raise OSError("no fork in this test")
os.execvp, os.fork = execvp, no_fork
sys.argv = ["taskbeacon-agent", "exec", "-q", "--", "true"]
import runpy
runpy.run_module("taskbeacon_agent", run_name="__main__")
"""


def test_exec_imports_only_what_it_needs_before_the_exec() -> None:
    # -S: no site, so everything listed was imported by runpy or the agent.
    done = subprocess.run(
        [sys.executable, "-S", "-c", BEFORE_EXEC],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": AGENT_DIR},
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert {"taskbeacon_agent.exec", "taskbeacon_agent.config"} <= loaded
    heavy = {"argparse", "typing", "json", "re", "threading", "socket", "ssl", "http", "signal", "enum"}
    assert not heavy & loaded, heavy & loaded
    assert not {m for m in loaded if m.startswith("taskbeacon_agent.")} - {
        "taskbeacon_agent.__main__",
        "taskbeacon_agent.exec",
        "taskbeacon_agent.config",
    }


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"HTTPS_PROXY": "http://p:3128"},
        {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"},
        {"HTTPS_PROXY": "http://p:3128", "https_proxy": ""},
        {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "execute-api.eu-west-1.amazonaws.com"},
        {"HTTPS_PROXY": "http://p:3128", "no_proxy": ".amazonaws.com, localhost"},
        {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"},
        {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "other.example.com"},
        {"HTTP_PROXY": "http://p:3128", "REQUEST_METHOD": "GET"},
    ],
)
def test_proxy_choice_matches_urllib_request(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent copies urllib.request's environment proxy logic instead of importing it (memory).
    import os
    import urllib.request

    from taskbeacon_agent import http

    for name in [n for n in os.environ if n.lower().endswith("_proxy") or n == "REQUEST_METHOD"]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    for url in ("https://a1b2.execute-api.eu-west-1.amazonaws.com/v1/snapshots", "http://localhost:9/x"):
        parts = urllib.parse.urlsplit(url)
        bypass = urllib.request.proxy_bypass(parts.hostname or "")
        expected = None if bypass else urllib.request.getproxies().get(parts.scheme)
        assert http._proxy_for(url) == expected
