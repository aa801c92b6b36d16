"""The DynamoDB engines tests run on: moto in memory, and AWS's DynamoDB Local (one per test session).

``engine_table(name)`` gives a boto3 client on a fresh table ("tasks", created from the one schema)
on that engine. On moto each test gets its own ``mock_aws``; on DynamoDB Local each test gets its
own database (DynamoDB Local keeps one per access key and region, so a unique key per test is a
fresh namespace: tables of the same name never meet), and the tables are dropped afterwards.

``TASKBEACON_TEST_ENGINES`` (comma-separated, default ``moto,dynamodb-local``) chooses the engines
the ``engine`` fixture runs on.
"""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from core.store.schema import create_table_request
from taskbeacon.local.aws.engine import ENGINES, DynamoDBLocalEngine, EngineUnavailable
from taskbeacon.local.aws.stream_pump import DrainResult, Handler, StreamPump, pump_for

SELECT_ENV = "TASKBEACON_TEST_ENGINES"
REGION = "us-east-1"
DEFAULT_TABLE = "tasks"


def selected_engines() -> list[str]:
    chosen = [
        name.strip() for name in os.environ.get(SELECT_ENV, ",".join(ENGINES)).split(",") if name.strip()
    ]
    unknown = sorted(set(chosen) - set(ENGINES))
    if unknown:
        raise ValueError(f"{SELECT_ENV}: unknown engine(s) {unknown}; choose from {list(ENGINES)}")
    return chosen


@dataclass
class EngineTable:
    """One fresh table on one engine, and its stream."""

    engine: str
    client: Any
    table_name: str
    endpoint: str | None  # None: moto's in-memory mock

    def pump(self, handler: Handler | None = None, **options: Any) -> StreamPump:
        """The stream pump of this table (one per table: positions carry over between drains)."""
        return pump_for(self.client, self.table_name, handler, **options)

    def drain(self, handler: Handler | None = None, **options: Any) -> DrainResult:
        """Deliver the table's new stream records to ``handler`` (default: the indexer handler)."""
        return self.pump(handler, **options).drain()


class _SessionEngine:
    """DynamoDB Local, started on first use and stopped when the test process exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: DynamoDBLocalEngine | None = None
        self._error: EngineUnavailable | None = None

    def endpoint(self) -> str:
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._engine is None:
                try:
                    engine = DynamoDBLocalEngine(shared_db=False)
                    engine.start()
                except EngineUnavailable as error:
                    self._error = error
                    raise
                self._engine = engine
                atexit.register(self.stop)
            return self._engine.endpoint

    def stop(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()


dynamodb_local = _SessionEngine()


def _credentials(key: str) -> dict[str, str]:
    return {"aws_access_key_id": key, "aws_secret_access_key": "testing", "region_name": REGION}


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def engine_table(
    engine: str, table_name: str = DEFAULT_TABLE, *, create: bool = True
) -> Iterator[EngineTable]:
    """A client on a fresh table on ``engine``; clients made from the environment meanwhile reach it too."""
    if engine == "moto":
        with _environment(_env("testing", None)), mock_aws():
            client = boto3.client("dynamodb", **_credentials("testing"))
            if create:
                client.create_table(**create_table_request(table_name))
            yield EngineTable(engine, client, table_name, None)
        return
    if engine != "dynamodb-local":
        raise ValueError(f"unknown engine {engine!r}")
    endpoint = dynamodb_local.endpoint()
    key = f"test{uuid.uuid4().hex[:16]}"  # a database of its own on the shared DynamoDB Local
    with _environment(_env(key, endpoint)):
        client = boto3.client("dynamodb", endpoint_url=endpoint, **_credentials(key))
        if create:
            client.create_table(**create_table_request(table_name))
        try:
            yield EngineTable(engine, client, table_name, endpoint)
        finally:
            for name in client.list_tables().get("TableNames", []):
                client.delete_table(TableName=name)


def _env(key: str, endpoint: str | None) -> dict[str, str | None]:
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": endpoint,
    }


__all__ = ["EngineTable", "EngineUnavailable", "dynamodb_local", "engine_table", "selected_engines"]
