"""Caller = task: who signed the request, and whether that caller may write a given task.

API Gateway verifies the SigV4 signature and puts the caller into ``requestContext.identity``.
An ECS task role session is named after the task id, so ``assumed-role/<role>/<taskId>`` may write
that task only; roles on the collector allowlist (host daemon mode) may write any task of their
own account. The trust model and what it rests on are in docs/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import Forbidden
from core.model import Task

_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$"
)
_IAM_ROLE = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<role>[^/]+)$"
)


@dataclass(frozen=True)
class Caller:
    account_id: str
    arn: str
    role_name: str | None = None
    session_name: str | None = None


def caller_from_identity(identity: dict[str, Any] | None) -> Caller:
    """The caller API Gateway authenticated; Forbidden when the request carried no IAM identity."""
    identity = identity or {}
    arn = identity.get("userArn") or ""
    account = identity.get("accountId") or ""
    if not arn or not account:
        raise Forbidden("request is not signed with IAM credentials")
    match = _ASSUMED_ROLE.match(arn)
    if match:
        return Caller(account_id=account, arn=arn, role_name=match["role"], session_name=match["session"])
    return Caller(account_id=account, arn=arn)


def collector_roles(role_arns: Iterable[str]) -> set[tuple[str, str]]:
    """(account, role name) pairs: an assumed-role ARN names the role without its path."""
    roles: set[tuple[str, str]] = set()
    for arn in role_arns:
        match = _IAM_ROLE.match(arn)
        if match:
            roles.add((match["account"], match["role"]))
    return roles


def _partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" else ""


def authorize_write(caller: Caller, task: Task, collectors: set[tuple[str, str]]) -> None:
    """Raise Forbidden unless ``caller`` may write ``task``. Never writes or reads anything."""
    if caller.account_id != task.account_id:
        raise Forbidden(
            f"caller account {caller.account_id} may not write tasks of account {task.account_id}"
        )
    caller_partition, task_partition = _partition(caller.arn), _partition(task.task_arn)
    if caller_partition != task_partition:
        # Account ids are unique only within a partition (aws, aws-cn, aws-us-gov).
        raise Forbidden(f"a caller in partition {caller_partition} may not write tasks of {task_partition}")
    if caller.role_name and (caller.account_id, caller.role_name) in collectors:
        return
    if caller.session_name is None:
        raise Forbidden("only an ECS task role session or an allowed collector role may post snapshots")
    if caller.session_name != task.task_id:
        raise Forbidden(
            f"task role session {caller.session_name} may only write its own task, not {task.task_id}"
        )
