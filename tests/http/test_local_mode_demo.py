"""`taskbeacon local` as a user runs it: its own process, the demo fleet reported by the real agent
(emulator → agent → SigV4 → gateway → ingest → engine) and by the ECS task state change events the
demo plays (operator → SigV4 → gateway → /_local/events → events handler → engine), then the CLI
with the written env file."""

from __future__ import annotations

import json
import os
import queue
import re
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
STOPPED_JOBS = 2  # the 5th and 6th batch workers finish
# Beside the agent fleet, so that every source shows (taskbeacon/local/demo.py):
SWEEP_ONLY = (
    4  # demo-legacy: 2 billing (Fargate), 1 reports (EC2 awsvpc), 1 cron (EC2 bridge); no agent, no event
)
EVENT_ONLY = 3  # demo-west in us-west-2 (not swept): 2 checkout (Fargate) running, 1 etl (EC2 bridge) stopped
ALL_TASKS = DEMO_TASKS + SWEEP_ONLY + EVENT_ONLY
STANDALONE = {"worker", "cron", "etl"}  # families run as standalone tasks (group family:<name>)
START_TIMEOUT = 180
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ecs"


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
    return json.loads(_cli_text(env_file, *argv, "--json"))


def _cli_text(env_file: Path, *argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(_exported(env_file))
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    done = subprocess.run(
        [sys.executable, "-m", "taskbeacon", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _table(text: str) -> list[dict[str, str]]:
    """A CLI table as rows of {header: cell}, split at the header's column starts."""
    header, *lines = text.rstrip("\n").splitlines()
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {name: line[a:b].strip() for name, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
        for line in lines
    ]


def test_prints_what_to_type_next_and_every_demo_report_is_accepted(running: Any) -> None:
    _process, env_file, banner = running
    assert f"{DEMO_TASKS} tasks in demo-batch, demo-web (EC2 and FARGATE)" in banner
    assert f"{DEMO_TASKS + STOPPED_JOBS} snapshots and " in banner
    # RUNNING for each task, STOPPED for the stopped jobs: what the deployed rule passes (no PENDING)
    assert f"{DEMO_TASKS + STOPPED_JOBS} task state change events sent" in banner
    assert "FAILED" not in banner  # every snapshot and every event was accepted
    assert f"{SWEEP_ONLY} tasks only the sweep knows (demo-legacy), {EVENT_ONLY} only events know" in banner
    assert "one sweep: " in banner and " 0 closed" in banner
    assert f"source {env_file}" in banner
    assert "taskbeacon tasks list" in banner
    assert "curl -s --aws-sigv4" in banner
    assert env_file.stat().st_mode & 0o077 == 0, "operator credentials must not be world-readable"
    # A quiet terminal: no Python warnings, tracebacks or raw metric blobs before the banner.
    for noise in ("Warning", "Traceback", '"_aws"'):
        assert noise not in banner, noise


def test_the_cli_sees_the_whole_demo_fleet_in_both_clusters_and_launch_types(running: Any) -> None:
    _process, env_file, _banner = running
    tasks = _cli(env_file, "tasks", "list", "--all")["items"]
    assert len(tasks) == ALL_TASKS
    assert {t["clusterName"] for t in tasks} == {"demo-web", "demo-batch", "demo-legacy", "demo-west"}
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


# -- what a deployed system shows: snapshots and EventBridge events together ----------------------
# Of the default `tasks list` columns, a deployed system always knows TASK ID, CLUSTER, FAMILY:REV,
# STATUS, LAUNCH and AZ (every ECS task state change event carries them), STARTED (startedAt, or
# when first seen for a task that has not started) and IPS (events for awsvpc tasks, the agent's
# snapshot otherwise). SERVICE is known for every service task (the event's group
# `service:<name>`, even on Fargate, whose metadata has no ServiceName); a standalone task has none.
# STALE is blank unless the task is stale.
ALWAYS_KNOWN = ("TASK ID", "CLUSTER", "FAMILY:REV", "STATUS", "LAUNCH", "AZ", "IPS", "STARTED")


def test_the_default_task_list_shows_no_dash_where_a_deployed_system_knows_the_value(running: Any) -> None:
    _process, env_file, _banner = running
    rows = _table(_cli_text(env_file, "tasks", "list", "--all"))
    assert len(rows) == ALL_TASKS
    for row in rows:
        family = row["FAMILY:REV"].split(":")[0]
        # A bridge task no agent reports has no address of its own: AWS states none.
        known = [name for name in ALWAYS_KNOWN if not (name == "IPS" and family in ("cron", "etl"))]
        unknown = [name for name in known if row[name] in ("", "-")]
        assert not unknown, row
        if family in STANDALONE:  # batch jobs run standalone (group family:<name>): no service
            assert row["SERVICE"] == "-", row
        else:
            assert row["SERVICE"] == family, row
        assert row["STALE"] == "", row
    assert {row["LAUNCH"] for row in rows} == {"EC2", "FARGATE"}
    assert {row["STATUS"] for row in rows} == {"RUNNING", "STOPPED"}


def test_every_task_has_its_status_launch_type_and_az_and_fargate_tasks_their_service(running: Any) -> None:
    _process, env_file, _banner = running
    tasks = _cli(env_file, "tasks", "list", "--all")["items"]
    assert len(tasks) == ALL_TASKS
    for task in tasks:
        assert task["lastStatus"] in ("RUNNING", "STOPPED"), task
        assert task["launchType"] in ("EC2", "FARGATE"), task
        assert task["availabilityZone"], task
        if task["clusterName"] == "demo-legacy":
            assert task["reporters"] == ["sweep"], task  # only the sweep knows it
        else:
            assert "eventbridge" in task["reporters"], task  # its events arrived through the events path
    fargate = [t for t in tasks if t["launchType"] == "FARGATE"]
    assert len(fargate) == DEMO_TASKS // 3 + 4
    # From the event's group (TMDE has none) or DescribeTasks' group.
    assert {t["serviceName"] for t in fargate} == {"web", "billing", "checkout"}
    assert {t["family"] for t in fargate} == {"web", "billing", "checkout"}
    # v2, v3 and metadata-file reports carry no launch type: the events supply it.
    assert {t["launchType"] for t in tasks if t["family"] == "worker"} == {"EC2"}


def test_running_counts_by_launch_type_cover_every_running_task(running: Any) -> None:
    _process, env_file, _banner = running
    summary = _table(_cli_text(env_file, "summary", "--by", "launchType"))
    counts = {row["GROUP"]: int(row["RUNNING"]) for row in summary}
    assert counts == {
        "EC2": 2 * DEMO_TASKS // 3 - STOPPED_JOBS + 2,  # + reports and cron (sweep only)
        "FARGATE": DEMO_TASKS // 3 + 2 + 2,  # + billing (sweep only) and checkout (events only)
        "TOTAL": DEMO_TASKS - STOPPED_JOBS + SWEEP_ONLY + 2,
    }


def test_stopped_jobs_carry_what_ecs_said_about_their_end(running: Any) -> None:
    _process, env_file, _banner = running
    stopped = _cli(env_file, "tasks", "list", "--cluster", "demo-batch", "--status", "STOPPED", "--all")[
        "items"
    ]
    assert len(stopped) == STOPPED_JOBS
    for listed in stopped:
        task = _cli(env_file, "tasks", "show", listed["taskId"])
        assert task["serviceName"] is None and task["family"] == "worker"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedAt"] and task["stoppingAt"] and task["startedAt"]
        assert task["desiredStatus"] == "STOPPED"
        assert task["containerInstanceArn"].startswith(
            "arn:aws:ecs:us-east-1:111122223333:container-instance/demo-batch/"
        )
        apps = [c for c in task["containers"] if not c["internal"]]
        assert apps and all(c["exitCode"] in (0, 1) and c["lastStatus"] == "STOPPED" for c in apps)
    assert sorted(
        c["exitCode"] for t in stopped for c in _cli(env_file, "tasks", "show", t["taskId"])["containers"]
    ) == [0, 1]


def test_images_carry_the_repository_digest_the_events_report(running: Any) -> None:
    _process, env_file, _banner = running
    tasks = _cli(env_file, "tasks", "list", "--all")["items"]
    web = next(t for t in tasks if t["family"] == "web")
    (app,) = [c for c in _cli(env_file, "tasks", "show", web["taskId"])["containers"] if not c["internal"]]
    assert app["imageDigest"].startswith("sha256:")
    same_image = _cli(env_file, "search", "--image-digest", app["imageDigest"], "--all")["items"]
    assert len(same_image) == DEMO_TASKS // 3  # one tag, one digest: every web task


def test_every_source_shows_and_a_second_sweep_changes_nothing(running: Any) -> None:
    from tests.http.localapi import send

    _process, env_file, _banner = running
    legacy = _cli(env_file, "tasks", "list", "--cluster", "demo-legacy", "--all")["items"]
    assert len(legacy) == SWEEP_ONLY and {t["lastStatus"] for t in legacy} == {"RUNNING"}
    billing = _cli(env_file, "search", "--ip", "10.0.4.10")["items"]
    assert [hit["task"]["family"] for hit in billing] == ["billing"]  # the ENI address DescribeTasks gave
    west = _cli(env_file, "tasks", "list", "--cluster", "demo-west", "--all")["items"]
    assert len(west) == EVENT_ONLY and {t["region"] for t in west} == {"us-west-2"}
    assert all(t["reporters"] == ["eventbridge"] for t in west)
    # The agent's tasks are in ECS too: the sweep confirmed them and closed none of them.
    web = _cli(env_file, "tasks", "list", "--cluster", "demo-web", "--status", "RUNNING", "--all")["items"]
    assert len(web) == DEMO_TASKS * 2 // 3
    exported = _exported(env_file)
    operator = {
        "AccessKeyId": exported["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": exported["AWS_SECRET_ACCESS_KEY"],
    }
    reply = send(exported["TASKBEACON_ENDPOINT"], "POST", "/_local/sweep", credentials=operator, body=b"{}")
    assert reply.status == 200, reply.body
    ((target,),) = [reply.body["targets"]]
    assert (target["accountId"], target["region"]) == ("111122223333", "us-east-1")
    assert target["written"] == 0 and target["closed"] == 0 and target["tasksSeen"] > SWEEP_ONLY


def test_the_demo_sweep_finds_the_drifted_billing_task_through_the_gateway(running: Any) -> None:
    """After the demo's sweep (moto's services answered by local mode's stand-in for
    ListServiceDeployments and DescribeServiceRevisions), the billing task on its previous build is
    the one drifted task; ``drifted`` takes only ``true``."""
    from taskbeacon.local.demo import DRIFTED_IP
    from tests.http.localapi import send

    _process, env_file, _banner = running
    exported = _exported(env_file)
    operator = {
        "AccessKeyId": exported["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": exported["AWS_SECRET_ACCESS_KEY"],
    }
    endpoint = exported["TASKBEACON_ENDPOINT"]
    reply = send(endpoint, "GET", "/tasks?drifted=true", credentials=operator)
    assert reply.status == 200, reply.body
    (drifted,) = reply.body["items"]
    assert (drifted["clusterName"], drifted["serviceName"]) == ("demo-legacy", "billing")
    ips = {ip for c in drifted["containers"] for n in c["networks"] for ip in n["ipv4Addresses"]}
    assert ips == {DRIFTED_IP}
    verdict = drifted["drift"]
    assert verdict["drifted"] and not verdict["taskDefinitionDrifted"] and verdict["source"] == "ecs-api"
    (container,) = verdict["containers"]
    assert container["drifted"] and container["expectedDigest"] != container["actualDigest"]
    # The other billing task runs what was deployed: judged, not drifted; a standalone task never judged.
    legacy = send(endpoint, "GET", "/tasks?cluster=demo-legacy", credentials=operator).body["items"]
    judged = {t["taskId"]: t["drift"] for t in legacy if t["serviceName"] is not None}
    assert sorted(v["drifted"] for v in judged.values()) == [False, False, True]  # billing x2, reports
    assert [t["drift"] for t in legacy if t["serviceName"] is None] == [None]  # cron: standalone
    summary = send(endpoint, "GET", "/summary?by=service&drifted=true", credentials=operator)
    assert summary.body == {"by": "service", "groups": [{"group": "billing", "running": 1}], "total": 1}
    refused = send(endpoint, "GET", "/tasks?drifted=yes", credentials=operator)
    assert refused.status == 400
    assert refused.body["error"]["field"] == "drifted" and "true" in refused.body["error"]["message"]


# -- the events the demo plays have ECS's shape (no server needed) --------------------------------
def _demo_event(status: str, launch_type: str = "FARGATE", **kwargs: Any) -> dict[str, Any]:
    from taskbeacon.emulator import make_task_doc
    from taskbeacon.local.demo import task_state_change

    doc = make_task_doc("demo-web", launch_type, "111122223333", "us-east-1", "web", "web", ip="10.0.1.10")
    return task_state_change(doc, version=2, last_status=status, group="service:web", **kwargs)


def test_a_demo_event_has_every_key_of_the_recorded_ecs_event() -> None:
    recorded = json.loads((FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    event = _demo_event("RUNNING")
    assert set(recorded) <= set(event)
    assert set(recorded["detail"]) <= set(event["detail"])
    for container in event["detail"]["containers"]:
        assert set(recorded["detail"]["containers"][0]) <= set(container)
    assert set(recorded["detail"]["attachments"][0]) <= set(event["detail"]["attachments"][0])


def test_demo_events_normalize_to_what_ecs_would_tell() -> None:
    from core.normalize import normalize_event

    running = normalize_event(_demo_event("RUNNING")).task
    assert (running.service_name, running.launch_type, running.last_status) == ("web", "FARGATE", "RUNNING")
    assert running.availability_zone and running.platform_version
    assert all(c.image_digest and c.networks and c.networks[0].eni for c in running.containers)
    arn = "arn:aws:ecs:us-east-1:111122223333:container-instance/demo-web/0123456789abcdef0123456789abcdef"
    stopped = normalize_event(_demo_event("STOPPED", "EC2", container_instance_arn=arn)).task
    assert (stopped.last_status, stopped.desired_status, stopped.stop_code) == (
        "STOPPED",
        "STOPPED",
        "EssentialContainerExited",
    )
    assert stopped.stopped_at is not None and stopped.container_instance_arn == arn
    assert all(c.exit_code is not None for c in stopped.containers)
    assert not any(c.internal for c in stopped.containers)  # ECS never lists pause containers
    pending = normalize_event(_demo_event("PENDING")).task
    assert pending.last_status == "PENDING" and pending.started_at is None
