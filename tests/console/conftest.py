"""Local mode with a small demo fleet (the real agent, the real handlers), and the console beside it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from taskbeacon.console.command import for_local
from taskbeacon.console.server import ConsoleServer
from taskbeacon.local.system import LocalSystem
from tests.drift_seed import CONTAINER, IMAGE, PREVIOUS_BUILD, seed_drifted_service
from tests.http.conftest import fixture as ecs_fixture
from tests.http.conftest import task_credentials
from tests.http.localapi import post_snapshot, send

DEMO_TASKS = 12
CLAIMED_IP = "192.0.2.77"  # what the contradicted task says its address is
AWS_IP = "198.51.100.77"  # what AWS's event says it is


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


@dataclass
class Contradicted:
    task_id: str
    claimed_ip: str
    aws_ip: str


@pytest.fixture(scope="package")
def contradicted(setup: Setup) -> Contradicted:
    """A task whose agent claims one address and whose ECS Task State Change states another, made
    through local mode's real routes: a snapshot with the task's own credentials, then the event."""
    local, operator = setup.local, setup.operator
    task_id = uuid.uuid4().hex
    cluster = f"arn:aws:ecs:{local.region}:{local.account_id}:cluster/contradicted"
    arn = f"arn:aws:ecs:{local.region}:{local.account_id}:task/contradicted/{task_id}"
    now = datetime.now(UTC).replace(microsecond=0)
    image = f"{local.account_id}.dkr.ecr.{local.region}.amazonaws.com/hello-repository:latest"

    claim = ecs_fixture("v4-task-fargate-docs.json")
    claim.update(TaskARN=arn, Cluster=cluster)
    container = claim["Containers"][0]
    container.update(Name="FargateApp", DockerName="FargateApp", Image=image)
    container["Networks"][0].update(IPv4Addresses=[CLAIMED_IP], IPv6Addresses=[])
    reply = post_snapshot(
        local,
        task_credentials(local, operator, arn),
        claim,
        collected_at=(now - timedelta(seconds=30)).isoformat().replace("+00:00", "Z"),
    )
    assert reply.status == 202, reply.body

    recorded = json.dumps(ecs_fixture("eventbridge-task-state-change-fargate-running.json"))
    event = json.loads(recorded.replace("111122223333", local.account_id).replace("us-west-2", local.region))
    event.update(account=local.account_id, region=local.region, resources=[arn])
    event["time"] = now.isoformat().replace("+00:00", "Z")
    detail = event["detail"]
    detail.update(
        clusterArn=cluster,
        taskArn=arn,
        createdAt=(now - timedelta(minutes=2)).isoformat(),
        startedAt=(now - timedelta(minutes=1)).isoformat(),
        updatedAt=now.isoformat(),
    )
    for attachment in detail["attachments"]:
        for pair in attachment["details"]:
            if pair["name"] == "privateIPv4Address":
                pair["value"] = AWS_IP
    for said in detail["containers"]:
        said.update(taskArn=arn, image=image)
        for interface in said["networkInterfaces"]:
            interface["privateIpv4Address"] = AWS_IP
    reply = send(local.url, "POST", "/_local/events", credentials=operator, body=json.dumps(event).encode())
    assert reply.status == 200, reply.body

    shown = setup.api(f"/tasks/{task_id}")
    assert CLAIMED_IP in shown["sources"]["unconfirmed"]["ips"], shown["sources"]
    assert AWS_IP in shown["sources"]["confirmed"]["ips"], shown["sources"]
    return Contradicted(task_id, CLAIMED_IP, AWS_IP)


DRIFT_ACCOUNT = "646566676869"  # the sweep reads only this account: local mode's own stays never swept
DRIFT_CLUSTER = "drift-console"
DRIFT_SERVICE = "pay-console"  # tests sharing this process (the CLI's) may have drifted tasks of their own
DRIFT_CONTAINER = CONTAINER


@dataclass
class Drifted:
    task_id: str  # runs another digest than ECS resolved for its service's revision
    in_line_id: str  # same service, the digest ECS resolved
    expected_digest: str
    actual_digest: str


@pytest.fixture(scope="package")
def drifted(setup: Setup) -> Iterator[Drifted]:
    """A service in (moto's) ECS in another account, one task of it running the digest ECS resolved
    for the service's revision and one running a previous build; local mode's sweep judges them
    (``POST /_local/sweep``, with its stand-in for ListServiceDeployments/DescribeServiceRevisions)."""
    from core.sweep.targets import Target
    from taskbeacon.local.service_revisions import registry_digest
    from taskbeacon.local.sweep import LocalSweep, MotoEcs

    local = setup.local
    target = Target(DRIFT_ACCOUNT, local.region)
    sweep = LocalSweep.for_system(local, targets=[target])
    try:
        seeded = seed_drifted_service(
            MotoEcs(sweep.endpoint),
            account=DRIFT_ACCOUNT,
            region=local.region,
            cluster=DRIFT_CLUSTER,
            service=DRIFT_SERVICE,
            ips=("10.6.0.10", "10.6.0.11"),
            started=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2),
        )
        in_line_arn, drifted_arn = seeded.in_line, seeded.drifted
        reply = send(local.url, "POST", "/_local/sweep", credentials=setup.operator, body=b"{}")
        assert reply.status == 200, reply.body
        found = setup.api("/tasks", drifted="true", cluster=DRIFT_CLUSTER)
        assert [t["taskArn"] for t in found["items"]] == [drifted_arn], found
        yield Drifted(
            task_id=drifted_arn.rsplit("/", 1)[-1],
            in_line_id=in_line_arn.rsplit("/", 1)[-1],
            expected_digest=registry_digest(IMAGE),
            actual_digest=registry_digest(PREVIOUS_BUILD),
        )
    finally:
        sweep.stop()
