"""The real agent against the emulator: every source, dry-run and signed posts, a 24-task fleet."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from agent_fakeserver import FakeServer, Reply
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from taskbeacon.emulator import EXAMPLES, Emulator, example, make_task_doc
from taskbeacon.emulator import command as emulate
from tests.ecs_fixtures import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    e = Emulator().start()
    yield e
    e.stop()


def agent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    clean.update(env, PYTHONPATH=str(ROOT / "agent"))
    return subprocess.run(
        [sys.executable, "-m", "taskbeacon_agent", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("source", ["tmde-v4", "tmde-v3", "tmde-v2", "metadata-file"])
def test_agent_dry_run_every_source(emu: Emulator, name: str, source: str) -> None:
    spec = example(name)
    task = emu.add_task(
        spec["task"], tags=spec["tags"], container_instance_tags=spec["containerInstanceTags"]
    )
    done = agent(task.env(), "once", "--dry-run", "--source", source, "--with-stats", "--budget", "3")
    if source == "metadata-file" and task.launch_type == "FARGATE":
        assert done.returncode == 3  # no metadata file on Fargate, as on real ECS
        return
    assert done.returncode == 0, done.stderr
    env = json.loads(done.stdout)
    assert env["source"] == source
    doc = env["task"]
    arn_key = "TaskARN"
    assert doc[arn_key] == task.task_arn
    if source == "tmde-v4":
        assert doc == task.doc and env["container"]["Name"] == task.app_container()["Name"]
        assert set(env["stats"]) == {c["DockerId"] for c in task.containers()}
    if source in ("tmde-v3", "tmde-v2"):
        assert "LaunchType" not in doc and all("ContainerARN" not in c for c in doc["Containers"])


def test_with_tags_v4_and_v2(emu: Emulator) -> None:
    spec = example("ec2-awsvpc")
    task = emu.add_task(
        spec["task"], tags=spec["tags"], container_instance_tags=spec["containerInstanceTags"]
    )
    v4 = json.loads(agent(task.env(), "once", "--dry-run", "--with-tags").stdout)["task"]
    assert v4["TaskTags"] == spec["tags"] and v4["ContainerInstanceTags"] == spec["containerInstanceTags"]
    v2 = json.loads(agent(task.env(), "once", "--dry-run", "--with-tags", "--source", "tmde-v2").stdout)[
        "task"
    ]
    assert v2["TaskTags"] == spec["tags"]


def test_daemon_introspection_lists_ec2_tasks_only(emu: Emulator) -> None:
    for n in EXAMPLES:
        emu.add_task(example(n)["task"])
    ec2 = [t for t in emu.tasks.values() if t.launch_type == "EC2"]
    status, doc = get(emu.url + "/v1/tasks")
    assert status == 200 and {t["Arn"] for t in doc["Tasks"]} == {t.task_arn for t in ec2}
    assert all(not c["Name"].startswith("~internal") for t in doc["Tasks"] for c in t["Containers"])
    status, one = get(emu.url + "/v1/tasks?taskarn=" + ec2[0].task_arn)
    assert status == 200 and one["Arn"] == ec2[0].task_arn  # a bare object, as the ECS agent answers


def test_agent_daemon_reports_every_task_on_the_host(emu: Emulator) -> None:
    ec2 = [emu.add_task(example(n)["task"]) for n in ("ec2-bridge", "ec2-awsvpc")]
    for i in range(3):
        doc = make_task_doc("blue", "EC2", "111122223333", "eu-west-1", f"svc{i}", service=f"svc{i}")
        ec2.append(emu.add_task(doc))
    emu.add_task(example("fargate")["task"])  # not on this host: introspection never lists it
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    clean.update(TASKBEACON_INTROSPECTION_URL=emu.url + "/v1", PYTHONPATH=str(ROOT / "agent"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskbeacon_agent", "daemon", "--dry-run", "--interval", "0.1"],
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert first["source"] == "introspection" and first["reason"] == "start"
        assert first["agent"]["mode"] == "daemon" and "task" not in first
        assert {t["Arn"] for t in first["tasks"]} == {t.task_arn for t in ec2}
        ec2[0].set_status("STOPPED", exit_code=1)
        change = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert change["reason"] == "change" and [t["Arn"] for t in change["tasks"]] == [ec2[0].task_arn]
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and '"stop"' not in out, err  # the host stopping says nothing of tasks
    finally:
        proc.kill()


def test_credentials_need_the_task_token(emu: Emulator) -> None:
    task = emu.add_task(example("fargate")["task"])
    env = task.env()
    url = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert get(url)[0] == 401
    assert (
        get(emu.url + "/creds/unknown", {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})[0] == 400
    )
    status, creds = get(url, {"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    assert status == 200 and set(creds) == {
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "RoleArn",
    }
    assert creds["AccessKeyId"].startswith("ASIAEMULATED")


def test_unknown_endpoint_ids_answer_like_ecs(emu: Emulator) -> None:
    assert get(emu.url + "/v4/nope/task")[0] == 404
    assert get(emu.url + "/v3/nope/task")[0] == 500


def _verify(req: dict[str, Any], creds: dict[str, str], region: str) -> bool:
    """Re-sign the received request with botocore and compare: proves the agent signed with these creds."""
    headers = req["headers"]
    aws = AWSRequest(method="POST", url="http://" + headers["Host"] + req["path"], data=req["body"])
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    for k, v in headers.items():  # as API Gateway does: only the headers the client signed
        if k.lower() in signed and k.lower() not in ("x-amz-date", "x-amz-security-token"):
            aws.headers[k] = v
    stamp = headers["X-Amz-Date"]
    import datetime
    from unittest import mock

    when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    bc = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(bc, "execute-api", region).add_auth(aws)
    return bool(aws.headers["Authorization"] == headers["Authorization"])


def test_fleet_of_24_tasks_two_clusters_signed_with_provider_credentials() -> None:
    minted: dict[str, dict[str, str]] = {}
    lock = threading.Lock()

    def provider(task_arn: str) -> dict[str, str]:
        task_id = task_arn.rsplit("/", 1)[-1]
        creds = {
            "AccessKeyId": "ASIA" + task_id[:12].upper(),
            "SecretAccessKey": "secret-" + task_id,
            "Token": "token-" + task_id,
            "Expiration": "2099-01-01T00:00:00Z",
            "RoleArn": "arn:aws:iam::111122223333:role/taskbeacon-local-task",
        }
        with lock:
            minted[task_arn] = creds
        return creds

    api = FakeServer().start()
    api.route("/snapshots", Reply(202, {"ok": True}))
    tasks = []
    with Emulator(credentials_provider=provider) as emu:
        for i in range(24):
            cluster = ("blue", "green")[i % 2]
            launch = ("EC2", "FARGATE")[(i // 2) % 2]
            doc = make_task_doc(
                cluster, launch, "111122223333", "eu-west-1", f"svc{i % 4}", service=f"svc{i % 4}",
                image=f"registry.example/app:{i % 3}", ip=f"10.{i % 2}.{i}.10",
            )  # fmt: skip
            tasks.append(emu.add_task(doc))
        assert len({t.task_arn for t in tasks}) == 24
        procs = []
        for t in tasks:
            env = dict(t.env(), TASKBEACON_ENDPOINT=api.url, TASKBEACON_REGION="eu-west-1")
            clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
            clean.update(env, PYTHONPATH=str(ROOT / "agent"))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "taskbeacon_agent", "once", "--budget", "10"],
                    env=clean,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        codes = [p.wait(timeout=60) for p in procs]
        errors = [p.stderr.read() for p in procs]  # type: ignore[union-attr]
    api.stop()
    assert codes == [0] * 24, errors
    bodies = [json.loads(r["body"]) for r in api.requests]
    assert {b["task"]["TaskARN"] for b in bodies} == {t.task_arn for t in tasks}
    assert {b["task"]["LaunchType"] for b in bodies} == {"EC2", "FARGATE"}
    by_arn = {json.loads(r["body"])["task"]["TaskARN"]: r for r in api.requests}
    for arn, req in by_arn.items():
        assert req["headers"]["X-Amz-Security-Token"] == minted[arn]["Token"]
        assert _verify(req, minted[arn], "eu-west-1"), (req["headers"], minted[arn])


def test_sidecar_sees_status_change_and_stop(emu: Emulator) -> None:
    task = emu.add_task(example("ec2-awsvpc")["task"])
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    clean.update(task.env(), PYTHONPATH=str(ROOT / "agent"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskbeacon_agent", "sidecar", "--dry-run", "--interval", "0.1"],
        env=clean,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(proc.stdout.readline())["reason"] == "start"  # type: ignore[union-attr]
        time.sleep(0.3)
        task.set_status("STOPPED", exit_code=137)
        # The change is judged on the task document alone, so a poll that reads /task before the
        # update and the container document after it cannot produce an intermediate "change".
        change = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        assert change["reason"] == "change" and change["task"]["KnownStatus"] == "STOPPED"
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        assert json.loads(out.splitlines()[-1])["reason"] == "stop"
    finally:
        proc.kill()


@pytest.mark.parametrize(
    ("name", "fixture"),
    [("ec2-awsvpc", "v4-task-ec2-awsvpc.json"), ("fargate", "v4-task-fargate-docs.json")],
)
def test_generated_documents_look_like_real_ones(name: str, fixture: str) -> None:
    real = json.loads((FIXTURES / fixture).read_text())
    ours = example(name)["task"]
    # Every task-level key of the real document exists in ours (ours may add newer fields).
    missing = set(real) - set(ours) - {"Limits", "TaskTags", "ContainerInstanceTags"}
    assert not missing
    real_c = next(c for c in real["Containers"] if c.get("Type", "NORMAL") == "NORMAL")
    ours_c = next(c for c in ours["Containers"] if c["Type"] == "NORMAL")
    assert set(real_c) - set(ours_c) <= {"ClockDrift", "ExitCode", "Ports", "Volumes", "Health"}
    assert ours["Cluster"].startswith("arn:") == real["Cluster"].startswith("arn:")


@contextmanager
def emulate_command(argv: list[str], writes: Path) -> Iterator[list[int]]:
    """``taskbeacon emulate ARGV`` in a thread for the block, entered once it has written ``writes``.

    Yields the list its exit code lands in when the block has stopped it.
    """
    parser = argparse.ArgumentParser()
    emulate.add_arguments(parser)
    args = parser.parse_args(argv)
    stop = threading.Event()
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(emulate.run(args, stop)))
    th.start()
    try:
        for _ in range(100):
            if writes.exists():
                break
            time.sleep(0.05)
        yield result
    finally:
        stop.set()
        th.join(5)


def exported(env_file: Path) -> dict[str, str]:
    """The variables of an ``--env-file`` (``export NAME='value'`` lines)."""
    env = dict(line[len("export ") :].split("=", 1) for line in env_file.read_text().splitlines())
    return {k: v.strip("'") for k, v in env.items()}


def test_user_task_file_and_command(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "v4-task-ec2-bridge.json").read_text())
    spec = tmp_path / "task.json"
    spec.write_text(json.dumps({"task": doc, "tags": {"a": "b"}}))
    env_file = tmp_path / "env.sh"
    with emulate_command(
        ["--port", "0", "--task-file", str(spec), "--env-file", str(env_file)], env_file
    ) as result:
        done = agent(exported(env_file), "once", "--dry-run", "--with-tags")
    assert result == [0]
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)["task"]
    assert got["TaskTags"] == {"a": "b"}
    assert {k: v for k, v in got.items() if k not in ("TaskTags", "ContainerInstanceTags")} == doc


def test_profile_credentials_warn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from taskbeacon.emulator import profile_provider

    cfg = tmp_path / "credentials"
    cfg.write_text("[sandbox]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(cfg))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    warnings: list[str] = []
    provide = profile_provider("sandbox", warn=warnings.append)
    assert warnings and "production" in warnings[0]
    creds = provide("arn:aws:ecs:eu-west-1:111122223333:task/c/abc")
    assert creds["AccessKeyId"] == "AKIDPROFILE"


def test_advertise_host_and_docker_env_file(tmp_path: Path) -> None:
    # For a container on a Docker network where the emulator sits at 169.254.170.2 (as ECS does).
    docker_env = tmp_path / "task.env"
    argv = ["--port", "0", "--host", "0.0.0.0", "--advertise-host", "169.254.170.2"]
    with emulate_command(
        [*argv, "--example", "ec2-awsvpc", "--docker-env-file", str(docker_env)], docker_env
    ):
        env = dict(line.split("=", 1) for line in docker_env.read_text().splitlines())
    assert env["ECS_CONTAINER_METADATA_URI_V4"].startswith("http://169.254.170.2:")
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://169.254.170.2:")
    assert not any(v.startswith("'") for v in env.values())  # docker --env-file does not unquote
    with Emulator(host="0.0.0.0", advertise_host="169.254.170.2", port=0) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        task = emu.add_task(example("fargate")["task"])
        status, doc = get(
            task.env()["ECS_CONTAINER_METADATA_URI_V4"].replace("169.254.170.2", "127.0.0.1") + "/task"
        )
        assert status == 200 and doc["TaskARN"] == task.task_arn


def test_tag_errors_served_like_ecs_and_logged_by_the_agent(emu: Emulator) -> None:
    spec = example("ec2-awsvpc")
    task = emu.add_task(
        spec["task"],
        tags=spec["tags"],
        container_instance_tags=spec["containerInstanceTags"],
        tag_errors=["TaskTags", "ContainerInstanceTags"],
    )
    base = task.env()["ECS_CONTAINER_METADATA_URI_V4"]
    status, first = get(base + "/taskWithTags")
    assert status == 200
    assert "TaskTags" not in first and "ContainerInstanceTags" not in first
    assert [e["ErrorField"] for e in first["Errors"]] == ["ContainerInstanceTags", "TaskTags"]
    assert {e["ResourceARN"] for e in first["Errors"]} == {task.task_arn, emu.container_instance_arn}
    assert all("ecs:ListTagsForResource" in e["ErrorMessage"] for e in first["Errors"])
    _, second = get(base + "/taskWithTags")
    assert {e["RequestId"] for e in first["Errors"]}.isdisjoint(e["RequestId"] for e in second["Errors"])
    assert "Errors" not in get(base + "/task")[1]  # only the tagged read calls ListTagsForResource
    done = agent(task.env(), "once", "--dry-run", "--with-tags")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["task"]["Errors"][1]["ErrorField"] == "TaskTags"
    assert "TaskTags: AccessDeniedException" in done.stderr and "ecs:ListTagsForResource" in done.stderr
    task.tag_errors = ["ContainerInstanceTags"]  # only the instance's tags fail now
    doc = get(base + "/taskWithTags")[1]
    assert doc["TaskTags"] == spec["tags"] and [e["ErrorField"] for e in doc["Errors"]] == [
        "ContainerInstanceTags"
    ]


def test_metadata_file_not_ready_until_set_ready(emu: Emulator) -> None:
    task = emu.add_task(example("ec2-bridge")["task"], metadata_ready=False)
    path = Path(task.env()["ECS_CONTAINER_METADATA_FILE"])
    assert "MetadataFileStatus" not in json.loads(path.read_text())
    done = agent(task.env(), "once", "--dry-run", "--source", "metadata-file", "--budget", "0.5")
    assert done.returncode == 3 and "not READY" in done.stderr
    # An agent already waiting sees the file turn READY (replaced atomically) within its budget.
    timer = threading.Timer(0.5, task.set_metadata_ready)
    timer.start()
    try:
        done = agent(task.env(), "once", "--dry-run", "--source", "metadata-file", "--budget", "10")
    finally:
        timer.cancel()
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)["task"]
    assert got["MetadataFileStatus"] == "READY" and got["TaskARN"] == task.task_arn


def test_command_tag_errors_and_metadata_ready_after(tmp_path: Path) -> None:
    env_file = tmp_path / "env.sh"
    argv = ["--port", "0", "--example", "ec2-bridge", "--tag-errors", "--metadata-ready-after", "1"]
    with emulate_command([*argv, "--env-file", str(env_file)], env_file):
        env = exported(env_file)
        assert "MetadataFileStatus" not in json.loads(Path(env["ECS_CONTAINER_METADATA_FILE"]).read_text())
        tagged = agent(env, "once", "--dry-run", "--with-tags", "--source", "tmde-v4")
        waited = agent(env, "once", "--dry-run", "--source", "metadata-file", "--budget", "10")
    assert tagged.returncode == 0, tagged.stderr
    assert {e["ErrorField"] for e in json.loads(tagged.stdout)["task"]["Errors"]} == {
        "TaskTags",
        "ContainerInstanceTags",
    }
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["task"]["MetadataFileStatus"] == "READY"
