"""The project's own agent, reading the emulator's metadata file, reports to local mode's real
gateway and ingest (issue 7.7: the file used to name a us-east-1 container instance for the
us-west-2 example tasks, and ingest refused every such report with a 400)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskbeacon.emulator import Emulator, example, make_task_doc
from taskbeacon.local.aws.principals import container_credentials
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send

pytestmark = pytest.mark.http
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def emulator(local: LocalSystem) -> Iterator[Emulator]:
    """Task credentials minted by local mode for each task's role session, as the demo does."""
    emu = Emulator(credentials_provider=lambda arn: container_credentials(local.registry.task(arn))).start()
    yield emu
    emu.stop()


def report(local: LocalSystem, env: dict[str, str], source: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    clean.update(env, TASKBEACON_ENDPOINT=local.url, TASKBEACON_REGION=local.gateway.region)
    clean["PYTHONPATH"] = str(ROOT / "agent")
    return subprocess.run(
        [sys.executable, "-m", "taskbeacon_agent", "once", "--source", source, "--budget", "15"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored(local: LocalSystem, operator: dict[str, str], task_arn: str) -> Any:
    reply = send(local.url, "GET", "/tasks/" + task_arn.rsplit("/", 1)[-1], credentials=operator)
    assert reply.status == 200, reply.body
    return reply.body


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(lambda: example("ec2-bridge")["task"], id="ec2-bridge-us-west-2"),
        pytest.param(lambda: example("ec2-awsvpc")["task"], id="ec2-awsvpc-us-west-2"),
        pytest.param(
            lambda: make_task_doc("batch", "EC2", "111122223333", "eu-central-1", "job", network_mode="host"),
            id="ec2-host-eu-central-1",
        ),
    ],
)
def test_metadata_file_reports_are_accepted_and_name_the_tasks_instance(
    local: LocalSystem, operator: dict[str, str], emulator: Emulator, doc: Any
) -> None:
    task = emulator.add_task(doc())
    done = report(local, task.env(), "metadata-file")
    assert done.returncode == 0, done.stderr
    shown = stored(local, operator, task.task_arn)
    assert shown["taskArn"] == task.task_arn
    assert shown["containerInstanceArn"] == task.container_instance_arn
    file = json.loads(Path(task.env()["ECS_CONTAINER_METADATA_FILE"]).read_text())
    assert file["ContainerInstanceARN"] == task.container_instance_arn
