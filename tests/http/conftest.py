from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from taskbeacon.local.system import LocalSystem
from tests.ecs_fixtures import FIXTURES
from tests.http.localapi import send


@pytest.fixture(scope="package")
def local() -> Iterator[LocalSystem]:
    saved = dict(os.environ)
    system = LocalSystem(port=0).start()
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
