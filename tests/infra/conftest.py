"""Session-scoped synths: each App synth costs seconds, so every test reads the same templates."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from collections.abc import Iterator

import pytest
from infra_synth import FULL_CONTEXT, LISTS_CONTEXT, Synth, synth


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synth({}, tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def full_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synth(FULL_CONTEXT, tmp_path_factory.mktemp("cdk-full"))


@pytest.fixture(scope="session")
def lists_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    yield synth(LISTS_CONTEXT, tmp_path_factory.mktemp("cdk-lists"))


@pytest.fixture(scope="session", params=["default", "full"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    return request.getfixturevalue(f"{request.param}_synth")
