"""Tenants are separate: no sequence of writes by principals of one account changes anything of another.

A principal of account X may name any task id it likes in a task ARN of its own account (an
assumed-role session name is the caller's choice), so X tries every id account Y uses, in every
region, through every kind of report and caller. Y's task partitions (record, keepalive item) must
stay byte for byte as they were, and reads by ARN still return Y's tasks.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import AmbiguousTask, Forbidden
from core.identity import Caller, authorize_write
from core.model import Observation, Task, task_identity
from core.store.schema import create_table_request
from tests.store.builders import T0, event, snapshot, task
from tests.store.inventory import Inventory, all_items

VICTIM = "444455556666"
ATTACKER = "777788889999"


def _in_account(t: Task, account: str, region: str = "us-east-1") -> Task:
    return t.model_copy(
        update={
            "task_arn": f"arn:aws:ecs:{region}:{account}:task/prod/{t.task_id}",
            "account_id": account,
            "region": region,
            "cluster_arn": f"arn:aws:ecs:{region}:{account}:cluster/prod",
        }
    )


@st.composite
def attacks(draw: Any) -> list[tuple[Caller, Observation]]:
    plays: list[tuple[Caller, Observation]] = []
    for _ in range(draw(st.integers(1, 8))):
        number = draw(st.integers(1, 3))  # the victim's task ids, reused by the attacker
        account = draw(st.sampled_from([ATTACKER, VICTIM]))  # the ARN the attacker posts
        region = draw(st.sampled_from(["us-east-1", "eu-west-1"]))
        status = draw(st.sampled_from(["PENDING", "RUNNING", "STOPPED"]))
        target = _in_account(
            task(number, status=status, image=draw(st.sampled_from(["evil:1", "evil:2"]))), account, region
        )
        session = draw(st.sampled_from([target.task_id, "collector", f"{number:032x}"]))
        role = draw(st.sampled_from(["app-task-role", "taskbeacon-collector"]))
        caller = Caller(
            account_id=ATTACKER,
            arn=f"arn:aws:sts::{ATTACKER}:assumed-role/{role}/{session}",
            role_name=role,
            session_name=session,
        )
        kind = draw(st.sampled_from(["start", "keepalive", "stop", "event"]))
        second = draw(st.integers(0, 10_000))
        if kind == "event":
            plays.append((caller, event(target, version=draw(st.integers(1, 10**6)), second=second)))
        else:
            plays.append(
                (
                    caller,
                    snapshot(
                        target, second=second, reason=kind, reporter=draw(st.sampled_from(["agent-1", "x"]))
                    ),
                )
            )
    return plays


def _victim_items(client: Any, table: str) -> list[dict[str, Any]]:
    return [item for item in all_items(client, table) if item["pk"]["S"].startswith(f"TASK#aws#{VICTIM}#")]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(attacks())
def test_no_write_by_one_account_changes_a_record_of_another(
    dynamodb: Any, plays: list[tuple[Caller, Observation]]
) -> None:
    table = f"tenants-{uuid.uuid4().hex[:12]}"  # a fresh table per example (the mock persists)
    dynamodb.create_table(**create_table_request(table))
    inventory = Inventory(dynamodb, table)
    victims = [_in_account(task(n), VICTIM) for n in (1, 2, 3)]
    for victim in victims:
        inventory.apply(snapshot(victim, second=5))
    before = _victim_items(dynamodb, table)
    collectors = {(ATTACKER, "taskbeacon-collector")}
    for caller, observation in plays:
        try:
            authorize_write(caller, observation.task, collectors)  # what ingest checks first
        except Forbidden:
            continue
        assert observation.task.account_id == ATTACKER  # only its own account gets this far
        inventory.apply(observation)
    assert _victim_items(dynamodb, table) == before
    for victim in victims:
        shown = inventory.query.get_task(victim.task_arn, now=T0 + timedelta(seconds=60))
        assert shown["accountId"] == VICTIM and shown["containers"][0]["image"] == "nginx:1.27"


def test_a_bare_id_in_two_accounts_answers_with_both_arns(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    mine, theirs = _in_account(task(1), VICTIM), _in_account(task(1), ATTACKER)
    inventory.apply(snapshot(mine, second=1))
    assert inventory.query.get_task(mine.task_id, now=T0)["taskArn"] == mine.task_arn
    inventory.apply(snapshot(theirs.model_copy(update={"containers": []}), second=2))
    try:
        inventory.query.get_task(mine.task_id, now=T0)
    except AmbiguousTask as error:
        assert sorted(error.candidates) == sorted([mine.task_arn, theirs.task_arn])
    else:
        raise AssertionError("a bare id held by two accounts must not resolve to one of them")
    # By ARN each is exactly itself.
    assert inventory.query.get_task(mine.task_arn, now=T0)["containers"][0]["name"] == "app"
    assert inventory.query.get_task(theirs.task_arn, now=T0)["accountId"] == ATTACKER
    assert task_identity(mine) != task_identity(theirs)
