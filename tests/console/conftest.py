"""Local mode with a small demo fleet (the real agent, the real handlers), and the console beside it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from taskbeacon.console.command import for_local
from taskbeacon.console.server import ConsoleServer
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send

DEMO_TASKS = 12


@dataclass
class Setup:
    local: LocalSystem
    console: ConsoleServer
    operator: dict[str, str]

    def api(self, path: str, **params: Any) -> Any:
        """The same request the console makes, signed by the test itself."""
        query = urlencode({k: v for k, v in params.items() if v is not None})
        reply = send(self.local.url, "GET", path + (f"?{query}" if query else ""), credentials=self.operator)
        assert reply.status == 200, reply.body
        return reply.body


@pytest.fixture(scope="package")
def setup() -> Iterator[Setup]:
    from taskbeacon.local.demo import run_demo_fleet

    saved = dict(os.environ)
    local = LocalSystem(port=0).start()
    fleet = None
    console = None
    try:
        fleet = run_demo_fleet(local, DEMO_TASKS)
        assert not fleet.failures, fleet.summary
        console = for_local(local, port=0)
        operator = {"AccessKeyId": local.operator.access_key, "SecretAccessKey": local.operator.secret_key}
        yield Setup(local, console, operator)
    finally:
        if console is not None:
            console.stop()
        if fleet is not None:
            fleet.stop()
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
