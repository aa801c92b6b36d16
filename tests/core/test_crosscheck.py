from __future__ import annotations

from typing import Any

import pytest

from core.crosscheck import EcsTaskVerifier, account_of_function
from core.errors import Forbidden
from tests.store.builders import task


class FakeEcs:
    """In-memory DescribeTasks: knows the task ARNs it was given, records every call."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.calls: list[dict[str, Any]] = []

    def describe_tasks(self, *, cluster: str, tasks: list[str]) -> dict[str, Any]:
        self.calls.append({"cluster": cluster, "tasks": tasks})
        return {
            "tasks": [{"taskArn": arn} for arn in tasks if arn in self.known],
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in tasks if arn not in self.known],
        }


def test_known_task_passes_and_unknown_task_is_forbidden() -> None:
    known, invented = task(1), task(2)
    ecs = FakeEcs({known.task_arn})
    verifier = EcsTaskVerifier("111122223333", client=ecs)
    verifier.verify(known)
    with pytest.raises(Forbidden, match="ECS does not know"):
        verifier.verify(invented)
    assert ecs.calls[0]["cluster"] == known.cluster_arn


def test_tasks_of_other_accounts_are_not_described() -> None:
    ecs = FakeEcs(set())
    EcsTaskVerifier("999999999999", client=ecs).verify(task(1))
    assert ecs.calls == []


def test_account_comes_from_the_function_arn() -> None:
    assert account_of_function("arn:aws:lambda:eu-west-1:123456789012:function:ingest") == "123456789012"
