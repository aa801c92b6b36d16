"""Drift end to end on the real recorder, indexer, publisher and queries (moto or DynamoDB Local): the
sweep reads ListServiceDeployments and DescribeServiceRevisions through its bucket, judges running
service tasks, writes a verdict once and the same verdict never; the drifted entries follow the
verdict and the stop; ``GET /tasks?drifted=true``, the drifted summary and ``Task Drifted``."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from core.errors import InvalidInput
from core.logic.change_events import TASK_DRIFTED
from core.logic.indexer import Indexer
from core.logic.publishing import ChangeEventPublishing
from core.publish import MemoryBus
from core.store.digests import ChangeEventStore
from core.store.index import IndexStore
from core.store.tasks import TaskStore
from core.sweep.targets import Target
from tests.store.builders import T0
from tests.store.inventory import all_items
from tests.sweep.conftest import Harness
from tests.sweep.stub import ecs_task, fixture

ACCOUNT, REGION = "111111111111", "us-east-1"
TARGET = Target(ACCOUNT, REGION)
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]  # webserver:2, container "web" running nginx
NGINX = "sha256:" + hashlib.sha256(b"nginx").hexdigest()  # the digest the stub's tasks run
REVISION = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/prod/web/1485800978477494678"
DEPLOYED = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/prod/web/ejGvqq2ilnbKT9qj0vLJe"


def _task(seed: str, service: str | None, **change: Any) -> dict[str, Any]:
    task = ecs_task(
        FARGATE, account=ACCOUNT, region=REGION, cluster="prod", seed=seed, service=service,
        started=T0 - timedelta(days=1),
    )  # fmt: skip
    if "definition" in change:
        task["taskDefinitionArn"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{change['definition']}"
    if "digest" in change:
        task["containers"][0]["imageDigest"] = change["digest"]
    return task


def _deployment(arn: str, status: str, revision: str, minutes: int) -> dict[str, Any]:
    return {
        "serviceDeploymentArn": arn,
        "clusterArn": CLUSTER,
        "createdAt": (T0 + timedelta(minutes=minutes)).timestamp(),
        "status": status,
        "targetServiceRevisionArn": revision,
    }


def _revision(arn: str, definition: str, digest: str | None) -> dict[str, Any]:
    image: dict[str, Any] = {"containerName": "web", "image": "nginx"}
    if digest is not None:
        image["imageDigest"] = digest
    return {
        "serviceRevisionArn": arn,
        "clusterArn": CLUSTER,
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{definition}",
        "containerImages": [image],
    }


@pytest.fixture
def fleet(harness: Harness, dynamodb: Any) -> tuple[Harness, MemoryBus, dict[str, str]]:
    """web (SUCCESSFUL): one task in line, one on an old task definition, one on another digest;
    api (IN_PROGRESS); a standalone task. Change events go to an in-memory bus."""
    bus = MemoryBus()
    inventory = harness.inventory
    inventory.indexer = Indexer(
        TaskStore(inventory.table, client=dynamodb, sleep=lambda _: None),
        IndexStore(inventory.table, client=dynamodb, sleep=lambda _: None),
        change_events=ChangeEventPublishing(ChangeEventStore(inventory.table, client=dynamodb), bus),
    )
    org = harness.org
    tasks = {
        "inline": _task("inline", "web"),
        "old-definition": _task("old-definition", "web", definition="webserver:1"),
        "other-digest": _task("other-digest", "web", digest="sha256:" + "0" * 64),
        "rolling": _task("rolling", "api", definition="webserver:1"),
        "standalone": _task("standalone", None, definition="webserver:1"),
    }
    for task in tasks.values():
        org.add(task)
    org.deployments[(ACCOUNT, REGION, CLUSTER, "web")] = [_deployment(DEPLOYED, "SUCCESSFUL", REVISION, 0)]
    org.deployments[(ACCOUNT, REGION, CLUSTER, "api")] = [
        _deployment(DEPLOYED + "-api-1", "SUCCESSFUL", REVISION + "-api-1", 0),
        _deployment(DEPLOYED + "-api-2", "IN_PROGRESS", REVISION + "-api-2", 30),
    ]
    org.revisions[REVISION] = _revision(REVISION, "webserver:2", NGINX)
    org.revisions[REVISION + "-api-1"] = _revision(REVISION + "-api-1", "webserver:2", NGINX)
    return harness, bus, {name: task["taskArn"] for name, task in tasks.items()}


def _drift(harness: Harness, arn: str) -> Any:
    return harness.inventory.query.get_task(arn)["drift"]


def _drifted(harness: Harness, filters: dict[str, str] | None = None, **kwargs: Any) -> set[str]:
    page = harness.inventory.query.list_tasks(
        filters or {}, since=None, limit=100, cursor=None, drifted=True, **kwargs
    )
    return {item["taskArn"] for item in page.items}


def test_the_sweep_judges_service_tasks_against_the_current_deployment(fleet: Any) -> None:
    harness, _, arns = fleet
    harness.sweep([TARGET])
    inline = _drift(harness, arns["inline"])
    assert inline == {
        "drifted": False,
        "serviceRevisionArn": REVISION,
        "serviceDeploymentArn": DEPLOYED,
        "expectedTaskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/webserver:2",
        "containers": [{"name": "web", "expectedDigest": NGINX, "actualDigest": NGINX, "drifted": False}],
        "taskDefinitionDrifted": False,
        "since": inline["since"],
        "source": "ecs-api",
    }
    old = _drift(harness, arns["old-definition"])
    assert old["drifted"] and old["taskDefinitionDrifted"] and not old["containers"][0]["drifted"]
    other = _drift(harness, arns["other-digest"])
    assert other["drifted"] and not other["taskDefinitionDrifted"]
    assert other["containers"][0] == {
        "name": "web", "expectedDigest": NGINX, "actualDigest": "sha256:" + "0" * 64, "drifted": True
    }  # fmt: skip
    assert _drift(harness, arns["rolling"]) is None  # its service's deployment is still rolling
    assert _drift(harness, arns["standalone"]) is None  # no service: never judged
    # One ListServiceDeployments per service with running tasks; one DescribeServiceRevisions.
    calls = {api: n for (a, r, api), n in harness.org.calls.items() if (a, r) == (ACCOUNT, REGION)}
    assert calls["ListServiceDeployments"] == 2 and calls["DescribeServiceRevisions"] == 1


def test_drifted_tasks_are_listed_summarized_and_announced_once(fleet: Any) -> None:
    harness, bus, arns = fleet
    harness.sweep([TARGET])
    drifted = {arns["old-definition"], arns["other-digest"]}
    assert _drifted(harness) == drifted
    assert _drifted(harness, {"service": "web", "status": "RUNNING"}) == drifted
    assert _drifted(harness, {"service": "api"}) == set()
    assert _drifted(harness, {"status": "STOPPED"}) == set()
    assert _drifted(harness, active_at=T0) == drifted  # running since a day before T0
    assert _drifted(harness, active_at=T0 - timedelta(days=2)) == set()
    summary = harness.inventory.query.summary("service", drifted=True)
    assert summary == {"by": "service", "groups": [{"group": "web", "running": 2}], "total": 2}
    with pytest.raises(InvalidInput) as refused:
        harness.inventory.query.summary("image", drifted=True)
    assert refused.value.field == "by"
    events = [p for p in bus.published() if p["detail-type"] == TASK_DRIFTED]
    assert {p["resources"][0] for p in events} == drifted
    # A second sweep finds the same verdicts: not one write, no event again.
    harness.client.writes.clear()
    harness.clock.sleep(3600)
    results = harness.sweep([TARGET])
    assert harness.client.writes == [] and results[0].totals.written == 0
    assert len([p for p in bus.published() if p["detail-type"] == TASK_DRIFTED]) == 2


def _entries(harness: Harness) -> Counter[str]:
    return Counter(
        item["pk"]["S"].split("#")[1]
        for item in all_items(harness.client)
        if item["pk"]["S"].startswith("IX#drifted#")
    )


def test_a_new_verdict_writes_once_and_the_entries_follow_it_and_the_stop(fleet: Any) -> None:
    harness, bus, arns = fleet
    harness.sweep([TARGET])
    assert _entries(harness) == {"drifted": 2}
    # A new deployment of web runs webserver:1: the two on webserver:2 drift, the old one is in line.
    second = REVISION + "-2"
    harness.org.deployments[(ACCOUNT, REGION, CLUSTER, "web")].append(
        _deployment(DEPLOYED + "-2", "SUCCESSFUL", second, 60)
    )
    harness.org.revisions[second] = _revision(second, "webserver:1", NGINX)
    harness.clock.sleep(3600)
    results = harness.sweep([TARGET])
    assert results[0].totals.written == 3  # each web task's verdict changed: one write each
    assert _drifted(harness) == {arns["inline"], arns["other-digest"]}
    assert _drift(harness, arns["old-definition"])["drifted"] is False
    assert _entries(harness) == {"drifted": 2}
    # inline drifted now (an event); other-digest was drifted already (no second event).
    announced = Counter(p["resources"][0] for p in bus.published() if p["detail-type"] == TASK_DRIFTED)
    assert announced == {arns["old-definition"]: 1, arns["other-digest"]: 1, arns["inline"]: 1}
    # The same verdicts once more: nothing written.
    harness.clock.sleep(3600)
    assert harness.sweep([TARGET])[0].totals.written == 0
    # A drifted task stops (ECS stopped it): its entry goes; its verdict stays on the record.
    stopped = copy.deepcopy(harness.org.clusters[(ACCOUNT, REGION)][CLUSTER][arns["inline"]])
    stopped.update(
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        version=9,
        stoppedAt=(T0 + timedelta(hours=3)).isoformat(),
    )
    harness.org.add(stopped)
    harness.clock.sleep(3600)
    harness.sweep([TARGET])
    assert _drifted(harness) == {arns["other-digest"]}
    assert _entries(harness) == {"drifted": 1}
    assert _drift(harness, arns["inline"])["drifted"] is True


def test_throttled_drift_calls_wait_in_the_bucket_and_the_verdict_lands(fleet: Any) -> None:
    harness, _, arns = fleet
    harness.org.throttle[(ACCOUNT, REGION, "ListServiceDeployments")] = 2
    harness.org.throttle[(ACCOUNT, REGION, "DescribeServiceRevisions")] = 1
    results = harness.sweep([TARGET])
    assert results[0].totals.throttled == 3 and results[0].done
    assert _drift(harness, arns["old-definition"])["drifted"] is True


def test_a_foreign_task_in_an_answer_is_never_judged_or_written(fleet: Any) -> None:
    harness, _, _ = fleet
    foreign = _task("foreign", "web", definition="webserver:1")
    foreign["taskArn"] = foreign["taskArn"].replace(ACCOUNT, "999999999999")
    harness.org.injected[(ACCOUNT, REGION)].append(harness.org.parsed_task(foreign))
    harness.sweep([TARGET])
    assert all("999999999999" not in str(item) for item in all_items(harness.client))
