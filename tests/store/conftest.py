"""The store suite runs on every engine: here ``dynamodb`` is the fresh table of ``engine``."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def dynamodb(engine_client: Any) -> Any:
    """The "tasks" table on moto and on DynamoDB Local in turn (tests/conftest.py ``engine``)."""
    return engine_client
