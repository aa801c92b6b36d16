"""Throttling is retried and resumed; a unit out of time continues where it stopped; nothing is dropped."""

from __future__ import annotations

from datetime import timedelta

from core.model.task import Task
from core.sweep.targets import Target, Unit
from tests.store.builders import T0
from tests.sweep.conftest import FastHarness
from tests.sweep.stub import ecs_task, fixture

FARGATE = fixture("describe-tasks-fargate.json")["tasks"][0]
BRIDGE = fixture("describe-tasks-ec2-bridge.json")["tasks"][0]
TARGET = Target("444455556666", "eu-west-1")


def populate(fast: FastHarness, clusters: int = 3, per_cluster: int = 25, stopped: int = 2) -> list[str]:
    arns = []
    for c in range(clusters):
        for n in range(per_cluster):
            template = FARGATE if n % 2 else BRIDGE
            task = ecs_task(
                template, account=TARGET.account, region=TARGET.region, cluster=f"c{c}", seed=f"{c}/{n}"
            )
            arns.append(fast.org.add(task)["taskArn"])
        for n in range(stopped):
            task = ecs_task(
                BRIDGE,
                account=TARGET.account,
                region=TARGET.region,
                cluster=f"c{c}",
                seed=f"{c}/s{n}",
                desired="STOPPED",
            )
            arns.append(fast.org.add(task)["taskArn"])
    return arns


def _most_in_a_second(moments: list[float]) -> int:
    return max(
        (sum(1 for m in moments[i:] if m < start + 1.0 - 1e-9) for i, start in enumerate(moments)), default=0
    )


def test_throttling_is_retried_with_backoff_and_nothing_is_dropped(fast: FastHarness) -> None:
    arns = populate(fast)
    fast.page_size = 10
    fast.org.throttle[(TARGET.account, TARGET.region, "DescribeTasks")] = 4
    fast.org.throttle[(TARGET.account, TARGET.region, "ListTasks")] = 2
    fast.org.throttle[(TARGET.account, TARGET.region, "ListClusters")] = 1
    (result,) = fast.sweep([TARGET])
    assert result.done and result.error is None
    assert result.totals.throttled == 7
    assert set(fast.inventory.tasks) == set(arns)  # every task recorded despite the pushback
    assert all(count == 1 for count in fast.inventory.writes.values())
    assert result.totals.calls == fast.org.total_calls()
    # Backoff waited (jitter pinned at 0.5 of 0.5 s, 1 s, 2 s ...), still at most 5 calls in any second.
    assert _most_in_a_second(fast.org.moments[(TARGET.account, TARGET.region)]) <= 5


def test_the_rate_limit_holds_for_a_whole_unit(fast: FastHarness) -> None:
    populate(fast, clusters=4, per_cluster=30)
    fast.page_size = 10
    fast.rate = 5.0
    fast.sweep([TARGET])
    moments = fast.org.moments[(TARGET.account, TARGET.region)]
    assert len(moments) > 30
    assert _most_in_a_second(moments) <= 5
    assert moments[-1] - moments[0] >= (len(moments) - 1) / 5 - 1e-6


def test_a_unit_out_of_time_continues_where_it_stopped(fast: FastHarness) -> None:
    arns = populate(fast)
    held = Task.model_validate(
        {
            "taskArn": f"arn:aws:ecs:{TARGET.region}:{TARGET.account}:task/c0/{'f' * 32}",
            "taskId": "f" * 32,
            "accountId": TARGET.account,
            "region": TARGET.region,
            "lastStatus": "RUNNING",
            "firstSeenAt": (T0 - timedelta(days=2)).isoformat(),
            "lastSeenAt": (T0 - timedelta(days=1)).isoformat(),
        }
    )
    fast.inventory.hold(held)  # ran before; ECS no longer knows it
    fast.page_size = 10
    fast.budget = 33.0  # simulated seconds per invocation, 30 of which are kept in reserve
    parts = fast.run_unit(fast.worker_unit(TARGET))
    assert len(parts) >= 3
    # Every continuation names where it resumes and carries the totals so far, through the queue's text.
    for part in parts[:-1]:
        assert part.continuation is not None
        again = Unit.from_body(part.continuation.body())
        assert again.resume == part.continuation.resume and again.totals == part.totals
        assert again.part == part.unit.part + 1
    final = parts[-1]
    assert final.done and final.closed_checked and final.totals.parts == len(parts)
    assert set(arns) <= set(fast.inventory.tasks)
    assert all(count == 1 for arn, count in fast.inventory.writes.items() if arn != held.task_arn)
    assert final.totals.tasks_seen >= len(arns) and final.totals.written == len(arns)
    # The continued unit listed ECS again, whole, before closing: the held task is closed, nothing else.
    assert final.totals.closed == 1
    closed = fast.inventory.tasks[held.task_arn]
    assert closed.last_status == "STOPPED" and closed.stopped_at == held.last_seen_at
    assert sum(1 for task in fast.inventory.tasks.values() if task.last_status == "STOPPED") == 1 + 3 * 2
    assert fast.coverage.sweeps[-1][3]["parts"] == len(parts)


def test_closing_is_skipped_when_even_the_listing_does_not_fit_one_invocation(fast: FastHarness) -> None:
    populate(fast)
    held = Task(
        task_arn=f"arn:aws:ecs:{TARGET.region}:{TARGET.account}:task/c0/{'e' * 32}",
        task_id="e" * 32,
        account_id=TARGET.account,
        region=TARGET.region,
        last_status="RUNNING",
        first_seen_at=T0 - timedelta(days=2),
        last_seen_at=T0 - timedelta(days=1),
    )
    fast.inventory.hold(held)
    fast.page_size = 10
    fast.budget = 32.0  # 2 s of calls a part: the 13-call listing of the whole account-region never fits
    parts = fast.run_unit(fast.worker_unit(TARGET))
    assert parts[-1].done and not parts[-1].closed_checked
    assert fast.inventory.tasks[held.task_arn].last_status == "RUNNING"  # not closed on a partial listing


def test_throttling_beyond_the_time_left_becomes_a_delayed_continuation(fast: FastHarness) -> None:
    arns = populate(fast, clusters=1, per_cluster=5, stopped=0)
    fast.budget = 40.0
    fast.org.throttle[(TARGET.account, TARGET.region, "DescribeTasks")] = 12  # backoff outlasts one part
    fast.jitter = lambda: 1.0
    parts = fast.run_unit(fast.worker_unit(TARGET))
    assert parts[0].continuation is not None and parts[0].pushed_back
    assert parts[0].continuation.resume is not None and parts[0].continuation.resume.status == "RUNNING"
    assert parts[-1].done and set(arns) == set(fast.inventory.tasks)
    assert parts[-1].totals.throttled == 12


def test_a_cluster_deleted_while_the_unit_runs_is_skipped(fast: FastHarness) -> None:
    populate(fast, clusters=2, per_cluster=3, stopped=0)

    def delete_c0(account: str, region: str, api: str) -> None:
        if api == "ListClusters":
            fast.org.clusters[(account, region)].pop(f"arn:aws:ecs:{region}:{account}:cluster/c0", None)

    fast.org.on_call = delete_c0
    (result,) = fast.sweep([TARGET])
    assert result.done and result.error is None and result.totals.tasks_seen == 3


def test_a_missing_member_role_is_reported_not_retried(fast: FastHarness) -> None:
    from botocore.exceptions import ClientError

    def no_role(target: Target, remaining: object) -> object:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    fast.reader = no_role  # type: ignore[method-assign,assignment]
    (result,) = fast.sweep([TARGET])
    assert result.done and result.error is not None and "AccessDenied" in result.error
    assert fast.coverage.sweeps == []  # not swept: no coverage note
