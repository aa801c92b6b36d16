"""Optional second opinion from ECS: refuse snapshots of tasks ECS does not know (own account only).

Enabled with DESCRIBE_TASKS_CROSS_CHECK; see docs/security.md for when it is worth its API calls.
"""

from __future__ import annotations

from typing import Any

from core.errors import Forbidden
from core.model import Task
from core.store.dynamo import translated_errors


class EcsTaskVerifier:
    def __init__(self, own_account_id: str, client: Any | None = None) -> None:
        self.own_account_id = own_account_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("ecs")
        return self._client

    def verify(self, task: Task) -> None:
        """Forbidden when the task is in this account and ECS does not know it; other accounts pass."""
        if task.account_id != self.own_account_id:
            return
        cluster = task.cluster_arn or "default"
        with translated_errors():
            response = self.client.describe_tasks(cluster=cluster, tasks=[task.task_arn])
        known = {described.get("taskArn") for described in response.get("tasks", [])}
        if task.task_arn not in known:
            raise Forbidden(f"ECS does not know task {task.task_arn} in cluster {cluster}")


def account_of_function(invoked_function_arn: str) -> str:
    """The account a Lambda runs in, from its own ARN (no STS call)."""
    parts = invoked_function_arn.split(":")
    return parts[4] if len(parts) > 4 else ""
