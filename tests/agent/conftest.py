from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent"))

from agent_fakeserver import FakeServer

from tests.ecs_fixtures import FIXTURES


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer().start()
    yield s
    s.stop()


@pytest.fixture
def api() -> Iterator[FakeServer]:
    s = FakeServer().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
