"""The local path: moto's server as ECS and STS, other accounts through AssumeRole, ``POST /_local/sweep``.

moto's ``RunTask`` cannot describe an awsvpc task's addresses or a task's start and version, so the
tasks are created with ``taskbeacon.local.sweep.MotoEcs`` (RunTask, then completed in moto's backend),
awsvpc included: Fargate, EC2 awsvpc and EC2 bridge, in two accounts and two regions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from core.store.schema import create_table_request
from core.sweep.service import SweepService, summary
from core.sweep.targets import Target
from taskbeacon.local.sweep import LocalSweep, MotoEcs, SeedTask
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send
from tests.store.inventory import Inventory

OWN = Target("111122223333", "us-east-1")
OTHER = Target("444455556666", "eu-west-1")
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def _specs(own: Target = OWN, other: Target = OTHER) -> list[SeedTask]:
    """Fargate, EC2 awsvpc and EC2 bridge in ``own``, Fargate in ``other`` (moto's backends live as
    long as the process, so each test uses accounts of its own)."""
    common: dict[str, Any] = {"started_at": STARTED, "tags": {"team": "platform"}}
    return [
        SeedTask(
            own.account,
            own.region,
            "web",
            "web",
            "nginx:1.27",
            "FARGATE",
            "awsvpc",
            "web",
            "10.9.0.10",
            **common,
        ),
        SeedTask(
            own.account,
            own.region,
            "api",
            "api",
            "python:3.13",
            "EC2",
            "awsvpc",
            "api",
            "10.9.1.10",
            **common,
        ),
        SeedTask(
            own.account, own.region, "batch", "job", "busybox:1.37", "EC2", "bridge", None, None, **common
        ),
        SeedTask(
            other.account,
            other.region,
            "web",
            "shop",
            "nginx:1.27",
            "FARGATE",
            "awsvpc",
            "shop",
            "10.8.0.10",
            image_digest="sha256:" + "ab" * 32,
            **common,
        ),
    ]


@pytest.fixture
def moto_server() -> Iterator[LocalSweep]:
    sweep = LocalSweep.start(account_id=OWN.account, region=OWN.region, targets=[OWN, OTHER])
    try:
        yield sweep
    finally:
        sweep.stop()


def test_the_sweep_reads_moto_through_assume_role_in_each_account(moto_server: LocalSweep) -> None:
    endpoint = moto_server.endpoint
    moto = MotoEcs(endpoint)
    arns = {spec.ip or spec.family: moto.run(spec) for spec in _specs()}
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="k",
    )
    dynamodb.create_table(**create_table_request("sweep-local"))
    inventory = Inventory(dynamodb, table="sweep-local", history_limit=50, now=datetime.now(UTC))
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="k",
    )
    service = SweepService(
        recorder=inventory.recorder,
        query=inventory.query,
        coverage=None,
        role_name="taskbeacon-sweep-reader",
        calls_per_second=20,
        sts=lambda: sts,
        ecs_endpoint=endpoint,
    )
    results = service.sweep_now([OWN, OTHER])
    inventory.settle()
    answer = summary(results)
    assert [t["tasksSeen"] for t in answer["targets"]] == [3, 1]
    assert answer["total"]["written"] == 4 and answer["total"]["closed"] == 0
    web = inventory.query.get_task(arns["10.9.0.10"])
    assert web["launchType"] == "FARGATE" and web["serviceName"] == "web" and web["clusterName"] == "web"
    (app,) = [c for c in web["containers"] if not c["internal"]]
    assert [n["ipv4Addresses"] for n in app["networks"]] == [["10.9.0.10"]]
    assert app["networks"][0]["eni"].startswith("eni-")
    assert web["startedAt"].startswith(STARTED.strftime("%Y-%m-%dT%H:%M:%S"))
    assert web["tags"] == {"team": "platform"}
    api = inventory.query.get_task(arns["10.9.1.10"])
    assert api["launchType"] == "EC2" and api["containerInstanceArn"].startswith(
        f"arn:aws:ecs:{OWN.region}:{OWN.account}:container-instance/api/"
    )
    assert [c["networks"][0]["ipv4Addresses"] for c in api["containers"]] == [["10.9.1.10"]]
    job = inventory.query.get_task(arns["job"])
    assert job["serviceName"] is None and job["family"] == "job" and job["containers"][0]["networks"] == []
    shop = inventory.query.get_task(arns["10.8.0.10"])
    assert (shop["accountId"], shop["region"]) == (OTHER.account, OTHER.region)  # reached through AssumeRole
    assert shop["containers"][0]["imageDigest"] == "sha256:" + "ab" * 32
    # A second sweep: moto says the same versions, nothing is written.
    again = summary(service.sweep_now([OWN, OTHER]))
    assert again["total"]["tasksSeen"] == 4 and again["total"]["written"] == 0


def test_run_many_starts_alike_tasks_together_each_completed_to_its_own_spec(moto_server: LocalSweep) -> None:
    """23 tasks of two kinds given interleaved (12 Fargate awsvpc, 11 EC2 bridge): RunTask starts up to
    10 alike tasks a call (4 calls, not 23), and every task gets its own id, address and version, its
    ARN returned in the order given."""
    own = Target("777788889999", "us-east-1")  # an account of its own: moto's backends outlive tests
    moto = MotoEcs(moto_server.endpoint)
    specs = []
    for number in range(23):
        fargate = number % 2 == 0
        specs.append(
            SeedTask(
                own.account,
                own.region,
                "many",
                "web" if fargate else "job",
                "nginx:1.27" if fargate else "busybox:1.37",
                "FARGATE" if fargate else "EC2",
                "awsvpc" if fargate else "bridge",
                "web" if fargate else None,
                f"10.79.0.{number + 10}" if fargate else None,
                started_at=STARTED,
                version=number + 1,
                task_id=f"{number:032x}",
            )
        )
    ecs = moto.client("ecs", own.account, own.region)
    counts: list[int] = []
    ecs.meta.events.register(
        "provide-client-params.ecs.RunTask", lambda params, **_: counts.append(params["count"])
    )
    arns = moto.run_many(specs)
    assert sorted(counts) == [1, 2, 10, 10]  # Fargate: 10 + 2; EC2: 10 + 1
    assert [arn.rsplit("/", 1)[-1] for arn in arns] == [f"{number:032x}" for number in range(23)]
    described = {
        task["taskArn"]: task
        for start in range(0, 23, 10)
        for task in ecs.describe_tasks(cluster="many", tasks=arns[start : start + 10])["tasks"]
    }
    for number, (spec, arn) in enumerate(zip(specs, arns, strict=True)):
        task = described[arn]
        assert task["version"] == number + 1
        assert task["launchType"] == spec.launch_type
        addresses = [
            pair["value"]
            for attachment in task.get("attachments") or []
            for pair in attachment["details"]
            if pair["name"] == "privateIPv4Address"
        ]
        assert addresses == ([spec.ip] if spec.ip else [])


@pytest.fixture
def local() -> Iterator[LocalSystem]:
    saved = dict(os.environ)
    system = LocalSystem(port=0, account_id=LOCAL_OWN.account).start()
    try:
        yield system
    finally:
        system.stop()
        os.environ.clear()
        os.environ.update(saved)


LOCAL_OWN = Target("222233334444", "us-east-1")
LOCAL_OTHER = Target("555566667777", "ap-southeast-2")


def test_post_local_sweep_runs_one_sweep_and_answers_its_summary(local: LocalSystem) -> None:
    own, other = LOCAL_OWN, LOCAL_OTHER
    sweep = LocalSweep.for_system(local, targets=[own, other])
    try:
        assert sweep.in_process and sweep.endpoint == local.dynamodb_endpoint  # the engine's own moto
        moto = MotoEcs(sweep.endpoint)
        arns = [moto.run(spec) for spec in _specs(own, other)]
        operator = {"AccessKeyId": local.operator.access_key, "SecretAccessKey": local.operator.secret_key}
        reply = send(local.url, "POST", "/_local/sweep", credentials=operator, body=b"{}")
        assert reply.status == 200, reply.body
        per_target = {(t["accountId"], t["region"]): t for t in reply.body["targets"]}
        assert per_target[(own.account, own.region)]["tasksSeen"] == 3
        assert per_target[(other.account, other.region)]["tasksSeen"] == 1
        assert reply.body["total"]["written"] == 4 and reply.body["total"]["calls"] > 0
        # The indexer followed: the list shows them at once.
        listed = send(local.url, "GET", "/tasks?cluster=web&limit=10", credentials=operator)
        assert {t["taskArn"] for t in listed.body["items"]} == {arns[0], arns[3]}
        # One target only, by request.
        reply = send(
            local.url,
            "POST",
            "/_local/sweep",
            credentials=operator,
            body=json.dumps({"targets": [str(other)]}).encode(),
        )
        assert reply.status == 200 and [t["region"] for t in reply.body["targets"]] == [other.region]
        bad = send(
            local.url,
            "POST",
            "/_local/sweep",
            credentials=operator,
            body=json.dumps({"targets": ["x"]}).encode(),
        )
        assert bad.status == 400 and bad.body["error"]["field"] == "targets"
        # Tasks may not run the sweep.
        task = send(local.url, "POST", "/_local/credentials", credentials=operator, body=_task_body(arns[0]))
        creds = {"AccessKeyId": task.body["AccessKeyId"], "SecretAccessKey": task.body["SecretAccessKey"]}
        creds["Token"] = task.body["Token"]
        refused = send(local.url, "POST", "/_local/sweep", credentials=creds, body=b"{}")
        assert refused.status == 403
    finally:
        sweep.stop()


def _task_body(arn: str) -> bytes:
    return json.dumps({"taskArn": arn}).encode()


def test_sweep_targets_are_checked() -> None:
    from taskbeacon.local.sweep import parse_targets

    assert parse_targets("111122223333:us-east-1, 444455556666:eu-west-1") == [OWN, OTHER]
    for bad in ("111122223333", "1111:us-east-1", "111122223333:moon", ""):
        with pytest.raises(ValueError):
            parse_targets(bad)


def test_a_running_sweep_keeps_the_stream_delivery_following_its_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sweep writes through its own recorder, not a handler invocation: while it runs, the runtime
    hears of its writes (so the indexer follows them), once more when it ends, and never after."""
    import threading
    import time

    from taskbeacon.local import sweep as local_sweep

    monkeypatch.setattr(local_sweep, "FOLLOW_SECONDS", 0.01)

    class Runtime:
        def __init__(self) -> None:
            self.noted = 0
            self.heard = threading.Event()

        def note_write(self) -> None:
            self.noted += 1
            self.heard.set()

        def settle(self) -> None:
            raise AssertionError("the ticker never settles")

    runtime = Runtime()
    with local_sweep._followed(runtime):
        assert runtime.heard.wait(30)  # told while the sweep is still running
        during = runtime.noted
    assert runtime.noted >= during + 1  # and once more for the last writes
    after = runtime.noted
    time.sleep(0.1)  # ten ticks' time: a ticker left running would be heard
    assert runtime.noted == after
