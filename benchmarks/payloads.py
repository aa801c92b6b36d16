"""The payloads the benchmarks send: a realistic task's TMDE v4 document, its snapshot envelope and
its EventBridge state changes, built from the recorded fixtures.

Its own module because both the store measurement (``benchmarks/store.py``) and the cost model's
log-bytes probe (``benchmarks/cost.py``) send them, and the store run already imports the cost model.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ecs"
FIXTURE_TASK_ID = "158d1c8083dd49d6b527399fd6414f5c"
APP_CONTAINERS = ("app", "log-router", "taskbeacon")


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _retimed(document: Any, at: datetime | None) -> Any:
    """The recorded document with its timestamps (pull, create, start) moved to ``at``."""
    if at is None:
        return document
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return json.loads(re.sub(r'"20\d\d-\d\d-\d\dT[0-9:.]+Z"', f'"{stamp}"', json.dumps(document)))


def task_document(
    number: int, cluster: str = "default", started: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """The recorded awsvpc task with its pause container and three application containers."""
    doc = _retimed(_load("v4-taskwithtags-ec2-awsvpc.json"), started)
    pause, curl = doc["Containers"]
    containers = [pause]
    for index, name in enumerate(APP_CONTAINERS):
        container = copy.deepcopy(curl)
        container["Name"] = name
        container["DockerName"] = container["DockerName"].replace("curl", name)
        container["DockerId"] = f"{index + 1:x}" + container["DockerId"][1:]
        container["Labels"]["com.amazonaws.ecs.container-name"] = name
        container["LogOptions"]["awslogs-stream"] = container["LogOptions"]["awslogs-stream"].replace(
            "curl", name
        )
        if "ContainerARN" in container:
            container["ContainerARN"] = container["ContainerARN"][:-1] + str(index)
        containers.append(container)
    doc["Containers"] = containers
    task_id = uuid.UUID(int=number).hex
    text = json.dumps(doc).replace(FIXTURE_TASK_ID, task_id)
    text = text.replace("598cba581fe3f939", f"{number:016x}").replace("ee08638adaaf009d", f"{number:016x}")
    if cluster != "default":
        text = text.replace(f"task/default/{task_id}", f"task/{cluster}/{task_id}")
        text = text.replace('"Cluster": "default"', f'"Cluster": "{cluster}"')
        text = text.replace(
            '"com.amazonaws.ecs.cluster": "default"', f'"com.amazonaws.ecs.cluster": "{cluster}"'
        )
    return task_id, json.loads(text)


def envelope(doc: dict[str, Any], reason: str, at: datetime, sequence: int) -> dict[str, Any]:
    reporter = next(c for c in doc["Containers"] if c["Name"] == "taskbeacon")
    return {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "sequence": sequence,
        "reason": reason,
        "agent": {"version": "0.1.0", "mode": "sidecar", "instanceId": f"agent-{doc['TaskARN'][-8:]}"},
        "task": doc,
        "container": copy.deepcopy(reporter),
    }


def changed(doc: dict[str, Any]) -> dict[str, Any]:
    """The task after a change the sidecar reports: the log router restarted with a new image."""
    out = copy.deepcopy(doc)
    router = next(c for c in out["Containers"] if c["Name"] == "log-router")
    router["Image"] = router["Image"].replace(":latest", ":2.1")
    router["ImageID"] = "sha256:" + "ab" * 32
    return out


def stopping(doc: dict[str, Any]) -> dict[str, Any]:
    """The task as the sidecar reads it after SIGTERM: desired STOPPED, containers stopping."""
    out = copy.deepcopy(doc)
    out["DesiredStatus"] = "STOPPED"
    for container in out["Containers"]:
        if container["Name"] != "taskbeacon":
            container["DesiredStatus"] = "STOPPED"
    return out


def event(doc: dict[str, Any], status: str, at: datetime, started: datetime | None = None) -> dict[str, Any]:
    """The recorded EventBridge task state change, re-addressed to the task (and STOPPED if asked)."""
    out = _retimed(_load("eventbridge-task-state-change-fargate-running.json"), started)
    detail = out["detail"]
    arn, cluster = doc["TaskARN"], "arn:aws:ecs:us-west-2:111122223333:cluster/default"
    template = detail["containers"][0]
    detail["containers"] = []
    for container in doc["Containers"][1:]:
        entry = copy.deepcopy(template)
        entry.update(
            name=container["Name"],
            image=container["Image"],
            runtimeId=container["DockerId"],
            taskArn=arn,
            containerArn=container.get("ContainerARN", entry["containerArn"]),
        )
        detail["containers"].append(entry)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    detail.update(
        taskArn=arn,
        clusterArn=cluster,
        launchType="EC2",
        group="service:MyService",
        taskDefinitionArn="arn:aws:ecs:us-west-2:111122223333:task-definition/curltest:26",
        updatedAt=stamp,
        availabilityZone=doc["AvailabilityZone"],
    )
    out.update(id=str(uuid.uuid4()), time=stamp[:19] + "Z", resources=[arn])
    if status == "STOPPED":
        detail.update(
            lastStatus="STOPPED",
            desiredStatus="STOPPED",
            stopCode="ServiceSchedulerInitiated",
            stoppedReason="Scaling activity initiated by (deployment ecs-svc/1234567890)",
            stoppingAt=stamp,
            executionStoppedAt=stamp,
            stoppedAt=stamp,
            version=detail["version"] + 4,
        )
        for entry in detail["containers"]:
            entry.update(lastStatus="STOPPED", exitCode=0)
    return out
