"""`taskbeacon local` as a user runs it: its own process, the demo fleet reported by the real agent
(emulator → agent → SigV4 → gateway → ingest → engine), then the CLI with the written env file."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

DEMO_TASKS = 21  # 7 web (Fargate), 7 api (EC2 awsvpc), 7 batch workers (EC2 bridge)
START_TIMEOUT = 120


def _lines(stream: IO[str], sink: queue.Queue[str]) -> None:
    for line in stream:
        sink.put(line)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], Path, str]]:
    workdir = tmp_path_factory.mktemp("local")
    env_file = workdir / "local.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskbeacon",
            "local",
            "--port",
            "0",
            "--demo-tasks",
            str(DEMO_TASKS),
            "--env-file",
            str(env_file),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert process.stdout is not None
    output: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, output), daemon=True).start()
    seen: list[str] = []
    try:
        while not any(line.startswith("Ready.") for line in seen):
            try:
                seen.append(output.get(timeout=START_TIMEOUT))
            except queue.Empty:
                pytest.fail("local mode did not become ready:\n" + "".join(seen))
        while not any("Press Ctrl-C" in line for line in seen):
            seen.append(output.get(timeout=10))
        yield process, env_file, "".join(seen)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _exported(env_file: Path) -> dict[str, str]:
    exported = {}
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exported[name] = shlex.split(value)[0]
    return exported


def _cli(env_file: Path, *argv: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(_exported(env_file))
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    done = subprocess.run(
        [sys.executable, "-m", "taskbeacon", *argv, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_prints_what_to_type_next_and_every_demo_report_is_accepted(running: Any) -> None:
    _process, env_file, banner = running
    assert f"{DEMO_TASKS} tasks in demo-batch, demo-web (EC2 and FARGATE)" in banner
    assert "FAILED" not in banner
    assert f"source {env_file}" in banner
    assert "taskbeacon tasks list" in banner
    assert "curl -s --aws-sigv4" in banner
    assert env_file.stat().st_mode & 0o077 == 0, "operator credentials must not be world-readable"


def test_the_cli_sees_the_whole_demo_fleet_in_both_clusters_and_launch_types(running: Any) -> None:
    _process, env_file, _banner = running
    tasks = _cli(env_file, "tasks", "list", "--all")["items"]
    assert len(tasks) == DEMO_TASKS
    assert {t["clusterName"] for t in tasks} == {"demo-web", "demo-batch"}
    assert {t["launchType"] for t in tasks} >= {"EC2", "FARGATE"}
    web = _cli(env_file, "tasks", "list", "--cluster", "demo-web", "--all")["items"]
    assert len(web) == DEMO_TASKS * 2 // 3


def test_search_by_ip_finds_the_task_the_banner_suggests(running: Any) -> None:
    _process, env_file, banner = running
    assert "search --ip 10.0.1.10" in banner
    found = _cli(env_file, "search", "--ip", "10.0.1.10")["items"]
    assert len(found) == 1
    assert found[0]["heldFrom"] is not None  # IPs are reused: an ip hit says when the task held it
    assert found[0]["task"]["clusterName"] == "demo-web"
    assert found[0]["task"]["launchType"] == "FARGATE"


def test_finished_batch_jobs_show_as_stopped_with_their_history(running: Any) -> None:
    _process, env_file, _banner = running
    stopped = _cli(env_file, "tasks", "list", "--cluster", "demo-batch", "--status", "STOPPED")["items"]
    assert stopped, "the demo stops some batch tasks after their first report"
    history = _cli(env_file, "tasks", "history", stopped[0]["taskId"])
    statuses = [change for entry in history["items"] for change in entry.get("changes", [])]
    assert statuses, history


def test_tags_read_by_the_agent_are_searchable(running: Any) -> None:
    _process, env_file, _banner = running
    data_team = _cli(env_file, "search", "--tag", "team=data", "--all")["items"]
    assert data_team
    assert {t["clusterName"] for t in data_team} == {"demo-batch"}
