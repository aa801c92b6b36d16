"""Optional second opinion from ECS: refuse snapshots of tasks ECS does not know (own account only).

Enabled with DESCRIBE_TASKS_CROSS_CHECK; see docs/security.md for when it is worth its API calls.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache
from typing import Any

from core.errors import Forbidden, Unavailable
from core.model import Task
from core.store.dynamo import translated_errors

# A task ECS confirmed stays confirmed: keepalives from a warm Lambda then cost no ECS call.
_REMEMBERED_TASKS = 10_000
# DescribeTasks answers these for a cluster that does not exist (or a malformed one): not a task.
_UNKNOWN_CLUSTER = {"ClusterNotFoundException", "InvalidParameterException"}
_SERVER_SIDE = {"ServerException", "ServiceUnavailableException", "InternalFailure"}


class EcsTaskVerifier:
    def __init__(self, own_account_id: str, client: Any | None = None) -> None:
        self.own_account_id = own_account_id
        self._injected = client
        self._clients: dict[str, Any] = {}
        self._confirmed: OrderedDict[str, None] = OrderedDict()

    def client(self, region: str) -> Any:
        """The ECS client of the task's own region: a task of eu-west-1 is unknown to us-east-1."""
        if self._injected is not None:
            return self._injected
        if region not in self._clients:
            import boto3
            from botocore.config import Config

            # Short timeouts and few retries: the answer must come well inside the function's timeout.
            config = Config(
                connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"}
            )
            self._clients[region] = boto3.client("ecs", region_name=region, config=config)
        return self._clients[region]

    def verify(self, task: Task) -> None:
        """Forbidden when the task is in this account and ECS does not know it; other accounts pass."""
        if task.account_id != self.own_account_id or task.task_arn in self._confirmed:
            return
        from botocore.exceptions import ClientError

        if task.region not in ecs_regions(task.task_arn.split(":")[1]):
            # The region comes from the caller's own report: only ask where ECS exists, so a made-up
            # region costs no connection attempts and no client.
            raise Forbidden(f"cannot confirm task {task.task_arn} with ECS: unknown region", field="task")
        cluster = task.cluster_arn or "default"
        try:
            with translated_errors():
                response = self.client(task.region).describe_tasks(cluster=cluster, tasks=[task.task_arn])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in _UNKNOWN_CLUSTER:
                raise Forbidden(f"ECS does not know cluster {cluster}", field="task") from error
            if code in _SERVER_SIDE:
                raise Unavailable("ECS did not answer the cross-check; retry later", retry_after=2) from error
            # Access denied, region not enabled, ...: what cannot be confirmed is refused.
            raise Forbidden(f"cannot confirm task {task.task_arn} with ECS ({code})", field="task") from error
        known = {described.get("taskArn") for described in response.get("tasks", [])}
        if task.task_arn not in known:
            raise Forbidden(f"ECS does not know task {task.task_arn} in cluster {cluster}", field="task")
        self._confirmed[task.task_arn] = None
        if len(self._confirmed) > _REMEMBERED_TASKS:
            self._confirmed.popitem(last=False)


@lru_cache(maxsize=4)
def ecs_regions(partition: str) -> frozenset[str]:
    """Regions where ECS exists, from botocore's bundled endpoint data (no network call)."""
    import boto3

    return frozenset(boto3.session.Session().get_available_regions("ecs", partition_name=partition))


def account_of_function(invoked_function_arn: str) -> str:
    """The account a Lambda runs in, from its own ARN (no STS call)."""
    parts = invoked_function_arn.split(":")
    return parts[4] if len(parts) > 4 else ""
