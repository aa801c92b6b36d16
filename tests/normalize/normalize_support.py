"""Shared helpers: the recorded ECS payloads and a snapshot envelope around them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from tests.ecs_fixtures import FIXTURES

COLLECTED_AT = "2026-11-28T09:14:03.123456789Z"
COLLECTED_AT_DT = datetime(2026, 11, 28, 9, 14, 3, 123456, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def envelope(source: str, **docs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": 1,
        "source": source,
        "collectedAt": COLLECTED_AT,
        "sequence": 7,
        "reason": "start",
        "agent": {"version": "0.1.0", "mode": "sidecar", "instanceId": "agent-1"},
    }
    body.update(copy.deepcopy(docs))
    return body


def utc(text: str) -> datetime:
    """Expected timestamps, written by hand in tests (microseconds, UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
