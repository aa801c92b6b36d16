"""The real handlers, in-process, on API Gateway REST proxy events built exactly as local mode builds them.

The store seam (``handlers.wiring``) points at a moto table; everything above it runs unmocked. After
every write the table's stream is delivered to the real indexer (``tests.store.inventory``, the pump
local mode uses), so the query routes read current indexes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.environment import ENV_NAMES
from core.logic.recording import WriteOutcome
from core.model import Observation
from core.observability import logger, metrics
from core.store.schema import create_table_request
from handlers import wiring
from taskbeacon.local.aws.gateway import _proxy_event, match_route
from taskbeacon.local.aws.lambda_context import LocalContext
from taskbeacon.local.aws.principals import COLLECTOR_ROLE_NAME, Principal, PrincipalRegistry
from tests.store.inventory import Inventory

ACCOUNT = "111122223333"
TABLE = "handler-tests"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    request_id: str


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto table behind the handlers' store and query service; settings from a clean environment."""
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "POWERTOOLS_DEV", ENV_NAMES["max_body_bytes"]):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(ENV_NAMES["table_name"], TABLE)
    monkeypatch.setenv(ENV_NAMES["collector_role_arns"], f"arn:aws:iam::{ACCOUNT}:role/{COLLECTOR_ROLE_NAME}")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    wiring.reset()
    metrics.clear_metrics()  # with metrics disabled, Powertools keeps what earlier tests added
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**create_table_request(TABLE))
        inventory = Inventory(client, table=TABLE, history_limit=50)
        recorder = SettlingRecorder(inventory)
        monkeypatch.setattr(wiring, "recorder", lambda: recorder)
        monkeypatch.setattr(wiring, "recorder", lambda: recorder, raising=False)
        monkeypatch.setattr(wiring, "query_service", lambda: inventory.query)
        yield client
    monkeypatch.undo()
    wiring.reset()


class SettlingRecorder:
    """The write path the handlers call, settling the stream into the indexes after each write."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def apply(self, observation: Observation, **kwargs: Any) -> WriteOutcome:
        return self.inventory.apply(observation, **kwargs)

    def apply_all(self, observations: list[Observation], **kwargs: Any) -> list[WriteOutcome]:
        return self.inventory.apply_all(observations, **kwargs)


@pytest.fixture
def principals() -> PrincipalRegistry:
    return PrincipalRegistry(ACCOUNT)


def http(
    method: str,
    path: str,
    principal: Principal,
    body: bytes | None = None,
    query: str = "",
    context: Any = None,
) -> Reply:
    """One API request through the handler local mode's gateway would route it to."""
    import importlib

    route = match_route(method, path)
    assert route is not None, path
    template, parameters, function = route
    headers = {"Host": "api.local", "Content-Type": "application/json"}
    event = _proxy_event(
        method, template, path, query, parameters, headers, body or b"", principal, "10.9.8.7"
    )
    module = importlib.import_module(f"handlers.{function}")
    response = module.handler(event, context or LocalContext(function_name=f"taskbeacon-{function}"))
    out = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        out[name] = ", ".join(values)
    raw = response.get("body") or "null"
    return Reply(response["statusCode"], out, json.loads(raw), event["requestContext"]["requestId"])


def deliver_event(event: dict[str, Any]) -> Any:
    from handlers import events

    return events.handler(event, LocalContext(function_name="taskbeacon-events"))


class LogCapture:
    """The JSON lines the Powertools logger writes, at INFO, while the block runs."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def __enter__(self) -> LogCapture:
        handler = logger.registered_handler
        self._stream = handler.setStream(self.buffer)  # type: ignore[attr-defined]
        self._level = logger.log_level
        logger.setLevel("INFO")
        return self

    def __exit__(self, *exc: object) -> None:
        logger.registered_handler.setStream(self._stream)  # type: ignore[attr-defined]
        logger.setLevel(self._level)

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.strip()]


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents printed to stdout."""
    blobs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def metric_values(blobs: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """Values of metric ``name`` in blobs whose dimension set is exactly service + ``dimensions``."""
    values: list[float] = []
    for blob in blobs:
        directive = blob["_aws"]["CloudWatchMetrics"][0]
        if name not in {m["Name"] for m in directive["Metrics"]}:
            continue
        if sorted(directive["Dimensions"][0]) != sorted(["service", *dimensions]):
            continue
        if any(blob.get(key) != value for key, value in dimensions.items()):
            continue
        value = blob[name]
        values += value if isinstance(value, list) else [value]
    return values


__all__ = ["ACCOUNT", "LogCapture", "Reply", "deliver_event", "emf_blobs", "http", "metric_values"]
