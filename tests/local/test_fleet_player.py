"""One process plays the agent of many demo tasks: its signed reports land, and are indexed, for
every task (issue 15: a fleet without a process per task)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from taskbeacon.emulator import Emulator, make_task_doc
from taskbeacon.local.aws.principals import container_credentials
from taskbeacon.local.demo import _base_environment
from taskbeacon.local.fleet import Job, Player, parallel_map
from taskbeacon.local.system import LocalSystem

TASKS = 20


@pytest.fixture(scope="module")
def system() -> Iterator[LocalSystem]:
    local = LocalSystem().start()
    yield local
    local.stop()


def _get(system: LocalSystem, path: str) -> Any:
    from taskbeacon_agent import sigv4
    from taskbeacon_agent.credentials import Credentials

    operator = system.operator
    keys = Credentials(operator.access_key, operator.secret_key, operator.session_token)
    url = system.url + path
    headers = dict(sigv4.sign("GET", url, [], b"", credentials=keys, region=system.region))
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    assert answer.status == 200, body
    return json.loads(body)


def test_the_player_reports_every_task_from_one_process(system: LocalSystem) -> None:
    emulator = Emulator(
        credentials_provider=lambda arn: container_credentials(system.registry.task(arn))
    ).start()
    try:
        docs = [
            make_task_doc(
                "fleet",
                "FARGATE",
                system.account_id,
                system.region,
                "web",
                "web",
                "nginx:1.27",
                f"10.78.0.{10 + n}",
            )
            for n in range(TASKS)
        ]
        tasks = [emulator.add_task(doc) for doc in docs]
        jobs = [
            Job(
                name=task.task_arn,
                env={**task.env(), "TASKBEACON_ENDPOINT": system.url, "TASKBEACON_REGION": system.region},
                source="tmde-v4",
                with_tags=False,
            )
            for task in tasks
        ]
        assert Player().play(jobs, _base_environment()) == []
    finally:
        emulator.stop()
    for number, task in enumerate(tasks):
        task_id = task.task_arn.rsplit("/", 1)[-1]
        stored = _get(system, f"/tasks/{task_id}")
        assert stored["sources"]["status"] == ["agent"]  # the agent's own report, signed as the task
        found = _get(system, f"/search?ip=10.78.0.{10 + number}")
        assert len(found["items"]) == 1  # the indexer followed: the one task that holds the address
        assert task_id in json.dumps(found["items"][0])


def test_a_stopped_player_plays_nothing() -> None:
    player = Player()
    player.stop()
    assert player.play([Job("t", {}, "tmde-v4", False)], {}) == []


def test_parallel_map_keeps_the_order() -> None:
    assert parallel_map(lambda n: n * n, range(50), 7) == [n * n for n in range(50)]
