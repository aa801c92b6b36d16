"""A simulated organization swept once: every running task in the inventory, as ECS said it.

Several accounts and regions, clusters of Fargate, EC2 awsvpc and EC2 bridge tasks (built from the
recorded DescribeTasks answers) already running before taskbeacon starts, a cluster big enough to
page, stopped tasks ECS still lists, and an empty region. The sweep runs against the recording
ECS; the store is the real recorder, indexer and queries on moto DynamoDB.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.logic.merge import VANISHED as MERGE_VANISHED
from core.sweep.closing import VANISHED
from core.sweep.targets import Target
from tests.store.builders import T0
from tests.sweep.conftest import Harness
from tests.sweep.stub import ecs_task, fixture

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("us-east-1", "eu-west-1")
FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]
BRIDGE = fixture("describe-tasks-ec2-bridge.json")["tasks"][0]


def _ec2_awsvpc() -> dict[str, Any]:
    """An EC2 awsvpc task once running: the documented Fargate task's network on an EC2 instance."""
    task = dict(FARGATE)
    task["launchType"] = "EC2"
    task.pop("platformVersion", None)
    task.pop("platformFamily", None)
    task["containerInstanceArn"] = BRIDGE["containerInstanceArn"]
    return task


EC2_AWSVPC = _ec2_awsvpc()
PAGE = 3
TEMPLATES = {"fargate": FARGATE, "ec2-awsvpc": EC2_AWSVPC, "ec2-bridge": BRIDGE}


def populate(harness: Harness) -> list[Target]:
    """The organization: tasks running for days before taskbeacon starts.

    Small (moto's DynamoDB copies its tables on every transaction), with pages of 3 tasks so that
    paging happens; the paper-sized organization runs against the stub alone (test_paper_sweep.py).
    """
    harness.page_size = PAGE
    org = harness.org
    started = T0 - timedelta(days=3)
    for a, account in enumerate(ACCOUNTS):
        for r, region in enumerate(REGIONS):
            if (a, r) == (2, 1):
                continue  # 333333333333 runs nothing in eu-west-1
            for c, (kind, template) in enumerate(TEMPLATES.items()):
                cluster = f"c{c}-{kind}"
                count = 7 if (a, r, c) == (0, 0, 0) else 1 + (a + r + c) % 2  # one cluster takes 3 pages
                for n in range(count):
                    org.add(
                        ecs_task(
                            template,
                            account=account,
                            region=region,
                            cluster=cluster,
                            seed=f"{account}/{region}/{cluster}/{n}",
                            service=f"svc-{kind}" if (n + c) % 3 else None,
                            tags={"team": f"t{n % 2}"} if (n + a) % 2 else None,
                            started=started,
                        )
                    )
            # ECS still lists what stopped within the hour.
            org.add(
                ecs_task(
                    BRIDGE,
                    account=account,
                    region=region,
                    cluster="c2-ec2-bridge",
                    seed=f"{account}/{region}/stopped",
                    desired="STOPPED",
                    version=5,
                    started=started,
                )
            )
    org.add_cluster("333333333333", "eu-west-1", "empty")
    return [Target(account, region) for account in ACCOUNTS for region in REGIONS]


def _ips(task: dict[str, Any]) -> set[str]:
    return {
        ip
        for container in task.get("containers") or []
        for network in container.get("networks") or []
        for ip in network.get("ipv4Addresses") or []
    }


def _ecs_ips(task: dict[str, Any]) -> set[str]:
    return {
        nic["privateIpv4Address"]
        for container in task.get("containers") or []
        for nic in container.get("networkInterfaces") or []
    }


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _apps(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [container for container in task.get("containers") or [] if not container.get("internal")]


def test_one_sweep_finds_every_running_task_as_ecs_said_it(harness: Harness) -> None:
    targets = populate(harness)
    results = harness.sweep(targets)
    assert all(result.done and result.error is None for result in results)
    running = [task for t in targets for task in harness.org.tasks(t.account, t.region, "RUNNING")]
    assert len(running) >= 25 and {t["launchType"] for t in running} == {"FARGATE", "EC2"}
    found = 0
    for ecs in running:
        stored = harness.inventory.query.get_task(ecs["taskArn"])
        assert stored["clusterArn"] == ecs["clusterArn"]
        assert stored["clusterName"] == ecs["clusterArn"].rsplit("/", 1)[-1]
        group = ecs["group"]
        assert stored["serviceName"] == (
            group.removeprefix("service:") if group.startswith("service:") else None
        )
        assert stored["launchType"] == ecs["launchType"]
        assert stored["lastStatus"] == "RUNNING"
        assert _ips(stored) == _ecs_ips(ecs)
        assert {c["image"] for c in _apps(stored)} == {c["image"] for c in ecs["containers"]}
        assert {c["imageDigest"] for c in _apps(stored)} == {c["imageDigest"] for c in ecs["containers"]}
        assert {c["dockerId"] for c in _apps(stored)} == {c["runtimeId"] for c in ecs["containers"]}
        assert stored["tags"] == {tag["key"]: tag["value"] for tag in ecs["tags"]}
        assert _moment(stored["startedAt"]) == _moment(ecs["startedAt"])  # the task's own start
        assert "sweep" in stored["reporters"]
        found += 1
    assert found == len(running)  # 100 %
    # What ECS still lists as stopped is recorded as stopped, with its reason.
    for target in targets:
        for ecs in harness.org.tasks(target.account, target.region, "STOPPED"):
            stored = harness.inventory.query.get_task(ecs["taskArn"])
            assert stored["lastStatus"] == "STOPPED"
            assert stored["stoppedReason"] == "Essential container in task exited"
    # The lists agree with the records (the indexer ran), per account and region.
    listed = harness.inventory.query.list_tasks(
        {"accountId": "111111111111", "region": "us-east-1", "status": "RUNNING"},
        since=None,
        limit=500,
        cursor=None,
    )
    assert len(listed.items) == len(harness.org.tasks("111111111111", "us-east-1", "RUNNING"))
    # Coverage: one note per account-region swept, with what the sweep did.
    assert {(a, r) for a, r, _, _ in harness.coverage.sweeps} == {(t.account, t.region) for t in targets}
    summary = {(a, r): s for a, r, _, s in harness.coverage.sweeps}
    big = summary[("111111111111", "us-east-1")]
    assert big["tasksSeen"] == len(harness.org.tasks("111111111111", "us-east-1"))
    assert big["written"] == big["tasksSeen"]
    assert big["closed"] == 0 and big["throttled"] == 0 and big["skipped"] == 0
    assert summary[("333333333333", "eu-west-1")]["tasksSeen"] == 0


def test_an_unchanged_second_sweep_writes_nothing(harness: Harness) -> None:
    targets = populate(harness)
    harness.sweep(targets)
    harness.client.writes.clear()
    calls_before = harness.org.total_calls()
    results = harness.sweep(targets)
    assert harness.client.writes == []  # not one write call: 0 write units
    tasks = sum(len(harness.org.tasks(t.account, t.region)) for t in targets)
    assert sum(r.totals.tasks_seen for r in results) == tasks
    assert sum(r.totals.written for r in results) == 0
    assert sum(r.totals.write_units for r in results) == 0
    calls = harness.org.total_calls() - calls_before
    assert sum(r.totals.calls for r in results) == calls
    # Calls: ListClusters once a unit, ListTasks per status and page, DescribeTasks per page.
    assert calls == expected_calls(harness, targets)


def expected_calls(harness: Harness, targets: list[Target]) -> int:
    calls = 0
    for target in targets:
        calls += 1  # ListClusters
        for tasks in harness.org.clusters.get((target.account, target.region), {}).values():
            for status in ("RUNNING", "STOPPED"):
                n = sum(1 for task in tasks.values() if task["desiredStatus"] == status)
                pages = max(1, -(-n // PAGE))
                calls += pages + (-(-n // PAGE))  # ListTasks pages + DescribeTasks of non-empty pages
            # Drift: one ListServiceDeployments per service with running tasks (none has a
            # deployment here, so no DescribeServiceRevisions).
            calls += len(
                {
                    task["group"]
                    for task in tasks.values()
                    if task["group"].startswith("service:") and task["lastStatus"] == "RUNNING"
                }
            )
    return calls


def test_a_task_ecs_forgot_is_closed_with_the_reason_and_a_bounded_stop_time(harness: Harness) -> None:
    targets = populate(harness)
    harness.sweep(targets)
    gone = harness.org.tasks("222222222222", "eu-west-1", "RUNNING")[0]
    stays = harness.org.tasks("222222222222", "eu-west-1", "RUNNING")[1]
    last_seen = harness.inventory.query.get_task(gone["taskArn"])["lastSeenAt"]
    harness.org.remove(gone["taskArn"])  # stopped, and ECS forgot it, with no event reaching us
    harness.clock.sleep(7200)
    results = harness.sweep([Target("222222222222", "eu-west-1")])
    assert results[0].totals.closed == 1 and results[0].closed_checked
    closed = harness.inventory.query.get_task(gone["taskArn"])
    assert closed["lastStatus"] == "STOPPED" and closed["desiredStatus"] == "STOPPED"
    assert closed["stoppedReason"].startswith("Not found by the taskbeacon sweep at ")
    assert "ECS no longer knows this task" in closed["stoppedReason"]
    # Bounded by when it was last seen, not the sweep's time (the same instant; a whole second is
    # spelled without a fraction by the model and with one by lastSeenAt).
    assert datetime.fromisoformat(closed["stoppedAt"]) == datetime.fromisoformat(last_seen)
    assert closed["stopCode"] is None
    assert harness.inventory.query.get_task(stays["taskArn"])["lastStatus"] == "RUNNING"
    # Other accounts and regions are not touched by that unit.
    assert (
        harness.inventory.query.get_task(
            harness.org.tasks("222222222222", "us-east-1", "RUNNING")[0]["taskArn"]
        )["lastStatus"]
        == "RUNNING"
    )
    # Closed once: a further sweep changes nothing.
    harness.client.writes.clear()
    again = harness.sweep([Target("222222222222", "eu-west-1")])
    assert again[0].totals.closed == 0 and harness.client.writes == []
    assert VANISHED == MERGE_VANISHED


def test_a_task_first_reported_after_the_sweep_began_is_not_closed(harness: Harness) -> None:
    """A task that starts (and is reported) while the unit runs is not in the listing: leave it alone."""
    from core.normalize.ecs_api import normalize_described
    from tests.sweep.stub import as_boto3

    target = Target("111111111111", "us-east-1")
    harness.org.add(ecs_task(FARGATE, account=target.account, region=target.region, cluster="a", seed="old"))
    newcomer = ecs_task(FARGATE, account=target.account, region=target.region, cluster="a", seed="new")
    reported: list[bool] = []

    def report_mid_sweep(account: str, region: str, api: str) -> None:
        # The first DescribeTasks happens after ListTasks: the newcomer starts and an event arrives.
        if api == "DescribeTasks" and not reported:
            reported.append(True)
            parsed = as_boto3("DescribeTasks", {"tasks": [newcomer], "failures": []})["tasks"][0]
            observation = normalize_described(parsed, observed_at=harness.now()).model_copy(
                update={"source": "event", "reporter": "eventbridge"}
            )
            harness.inventory.apply(observation, now=harness.now())

    harness.org.on_call = report_mid_sweep
    harness.clock.sleep(1)
    results = harness.sweep([target])
    assert reported and results[0].totals.closed == 0
    assert harness.inventory.query.get_task(newcomer["taskArn"])["lastStatus"] == "RUNNING"


def test_tasks_of_other_accounts_in_an_answer_are_dropped_and_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target("111111111111", "us-east-1")
    harness.org.add(ecs_task(FARGATE, account=target.account, region=target.region, cluster="a", seed="mine"))
    from tests.sweep.stub import as_boto3

    foreign = ecs_task(FARGATE, account="999999999999", region="us-east-1", cluster="a", seed="theirs")
    other_region = ecs_task(
        FARGATE, account=target.account, region="eu-west-1", cluster="a", seed="elsewhere"
    )
    # The same account and region in another partition (its ARNs say aws-cn) is not this target either.
    mine_elsewhere = ecs_task(FARGATE, account=target.account, region=target.region, cluster="a", seed="cn")
    other_partition = json.loads(json.dumps(mine_elsewhere).replace("arn:aws:", "arn:aws-cn:"))
    harness.org.injected[(target.account, target.region)] = as_boto3(
        "DescribeTasks", {"tasks": [foreign, other_region, other_partition], "failures": []}
    )["tasks"]
    with caplog.at_level(logging.WARNING, logger="taskbeacon.sweep"):
        (result,) = harness.sweep([target])
    assert result.totals.foreign == 3 and result.totals.tasks_seen == 1
    for arn in (foreign["taskArn"], other_region["taskArn"], other_partition["taskArn"]):
        assert arn in caplog.text
        with pytest.raises(Exception, match="no task"):
            harness.inventory.query.get_task(arn)


def test_malformed_entries_are_skipped_with_a_log_line_and_nothing_else_is_lost(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.sweep.stub import as_boto3

    target = Target("111111111111", "us-east-1")
    good = [
        harness.org.add(
            ecs_task(BRIDGE, account=target.account, region=target.region, cluster="a", seed=f"ok{n}")
        )
        for n in range(3)
    ]
    bad_arn = ecs_task(BRIDGE, account=target.account, region=target.region, cluster="a", seed="bad")
    bad_arn["taskDefinitionArn"] = "not-a-task-definition"
    documented = fixture("describe-tasks-api-reference-placeholders.json")["tasks"]
    harness.org.injected[(target.account, target.region)] = [
        *as_boto3("DescribeTasks", {"tasks": [bad_arn, *documented], "failures": []})["tasks"],
        "not an object",
        {"taskArn": None},
    ]
    with caplog.at_level(logging.WARNING, logger="taskbeacon.sweep"):
        (result,) = harness.sweep([target])
    assert result.totals.tasks_seen == 3 and result.totals.skipped == 4
    assert "taskDefinitionArn is not an ECS task definition ARN" in caplog.text
    assert "taskArn is not an ECS task ARN" in caplog.text  # the placeholders of the API reference
    assert "must be an object" in caplog.text
    for task in good:
        assert harness.inventory.query.get_task(task["taskArn"])["lastStatus"] == "RUNNING"


def test_coverage_notes_land_in_the_coverage_store(harness: Harness) -> None:
    """The worker's note, through the real CoverageStore: when each account-region was swept, and how."""
    from core.store.coverage import CoverageStore

    store = CoverageStore("tasks", client=harness.client)
    harness.coverage = store  # type: ignore[assignment]
    target = Target("111111111111", "us-east-1")
    for n in range(2):
        harness.org.add(
            ecs_task(FARGATE, account=target.account, region=target.region, cluster="a", seed=str(n))
        )
    harness.org.add_cluster("222222222222", "eu-west-1", "empty")
    harness.sweep([target, Target("222222222222", "eu-west-1")])
    notes = {(c.account_id, c.region): c for c in store.load_all()}
    assert set(notes) == {(target.account, target.region), ("222222222222", "eu-west-1")}
    mine = notes[(target.account, target.region)]
    assert mine.last_swept_at is not None and mine.last_swept_at.startswith(
        harness.clock.now().strftime("%Y-%m-%d")
    )
    assert mine.sweep["tasksSeen"] == 2 and mine.sweep["written"] == 2 and mine.sweep["closed"] == 0
    assert notes[("222222222222", "eu-west-1")].sweep["tasksSeen"] == 0
