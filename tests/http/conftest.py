from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskbeacon.local.system import LocalSystem
from tests.conftest import _unavailable as unavailable
from tests.ecs_fixtures import FIXTURES
from tests.engines import EngineUnavailable, dynamodb_local, selected_engines
from tests.http.localapi import send


@pytest.fixture(scope="package", params=selected_engines())
def local(request: pytest.FixtureRequest) -> Iterator[LocalSystem]:
    """Local mode on each engine: moto (embedded, its tables in a child process, as `taskbeacon local`
    runs it) and AWS's DynamoDB Local with its real stream."""
    saved = dict(os.environ)
    endpoint = None
    if request.param == "dynamodb-local":
        try:
            endpoint = dynamodb_local.endpoint()
        except EngineUnavailable as error:
            unavailable(error)
    # As `taskbeacon local` runs it: the embedded engine's tables in a child process.
    system = LocalSystem(port=0, dynamodb_endpoint=endpoint, tables_in_child=True).start()
    try:
        yield system
    finally:
        system.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="package")
def operator(local: LocalSystem) -> dict[str, str]:
    return {"AccessKeyId": local.operator.access_key, "SecretAccessKey": local.operator.secret_key}


def task_credentials(local: LocalSystem, operator: dict[str, str], task_arn: str) -> dict[str, str]:
    reply = send(
        local.url,
        "POST",
        "/_local/credentials",
        credentials=operator,
        body=json.dumps({"taskArn": task_arn}).encode(),
    )
    assert reply.status == 200, reply.body
    return dict(reply.body)


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def operator_env(local: LocalSystem, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI in this process signs as local mode's operator, from the environment alone (no
    config or credentials file of the machine it runs on)."""
    monkeypatch.setenv("TASKBEACON_ENDPOINT", local.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local.operator.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local.operator.secret_key)
    monkeypatch.setenv("AWS_REGION", local.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def posted_task(local: LocalSystem, operator: dict[str, str], prefix: str) -> tuple[str, dict[str, Any]]:
    """A v4 task in a cluster of its own (``prefix`` + random), reported once by its own task role:
    ``(cluster name, task document)``."""
    import uuid

    from tests.http.localapi import post_snapshot

    cluster = f"{prefix}{uuid.uuid4().hex[:6]}"
    task = fixture("v4-task-fargate-docs.json")
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/{cluster}/{uuid.uuid4().hex}"
    task["Cluster"] = f"arn:aws:ecs:us-east-1:111122223333:cluster/{cluster}"
    creds = task_credentials(local, operator, task["TaskARN"])
    assert post_snapshot(local, creds, task, collected_at="2026-11-28T09:00:00Z").status == 202
    return cluster, task
