from __future__ import annotations

import pytest

from core.errors import Forbidden
from core.identity import authorize_write, caller_from_identity, collector_roles
from tests.store.builders import task

TASK = task(7)  # account 111122223333, id 000...07


def _caller(arn: str, account: str = "111122223333"):
    return caller_from_identity({"userArn": arn, "accountId": account})


def test_task_role_session_may_write_its_own_task_only() -> None:
    own = _caller(f"arn:aws:sts::111122223333:assumed-role/app-task-role/{TASK.task_id}")
    authorize_write(own, TASK, set())
    other = _caller("arn:aws:sts::111122223333:assumed-role/app-task-role/" + "f" * 32)
    with pytest.raises(Forbidden, match="only write its own task"):
        authorize_write(other, TASK, set())


def test_other_account_is_refused_even_with_matching_session() -> None:
    foreign = _caller(
        f"arn:aws:sts::999999999999:assumed-role/app-task-role/{TASK.task_id}", account="999999999999"
    )
    with pytest.raises(Forbidden, match="account"):
        authorize_write(foreign, TASK, set())


def test_collector_role_on_allowlist_may_write_any_task_of_its_account() -> None:
    collectors = collector_roles(["arn:aws:iam::111122223333:role/service-role/taskbeacon-collector"])
    daemon = _caller("arn:aws:sts::111122223333:assumed-role/taskbeacon-collector/i-0abc")
    authorize_write(daemon, TASK, collectors)
    foreign_collectors = collector_roles(["arn:aws:iam::999999999999:role/taskbeacon-collector"])
    with pytest.raises(Forbidden):
        authorize_write(daemon, TASK, foreign_collectors)


def test_iam_user_cannot_post_snapshots() -> None:
    user = _caller("arn:aws:iam::111122223333:user/alice")
    with pytest.raises(Forbidden):
        authorize_write(user, TASK, set())


def test_unsigned_identity_is_refused() -> None:
    with pytest.raises(Forbidden):
        caller_from_identity({"userArn": None, "accountId": None})


def test_old_format_task_arn_is_matched_by_its_id_too() -> None:
    old = TASK.model_copy(update={"task_arn": f"arn:aws:ecs:us-east-1:111122223333:task/{TASK.task_id}"})
    authorize_write(
        _caller(f"arn:aws:sts::111122223333:assumed-role/app-task-role/{TASK.task_id}"), old, set()
    )
    with pytest.raises(Forbidden):
        authorize_write(
            _caller("arn:aws:sts::111122223333:assumed-role/app-task-role/" + "e" * 32), old, set()
        )


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_same_account_id_in_another_partition_is_refused(partition: str) -> None:
    """Account ids are unique only within a partition: an aws-cn caller never writes an aws task."""
    elsewhere = _caller(f"arn:{partition}:sts::111122223333:assumed-role/app-task-role/{TASK.task_id}")
    with pytest.raises(Forbidden, match="partition"):
        authorize_write(elsewhere, TASK, set())
    there = TASK.model_copy(update={"task_arn": TASK.task_arn.replace("arn:aws:", f"arn:{partition}:")})
    authorize_write(elsewhere, there, set())
