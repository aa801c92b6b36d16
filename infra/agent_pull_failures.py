"""Tasks that ECS stopped because an image could not be pulled, among the tasks running the agent.

A task whose container image cannot be pulled does not start, whether that container is essential
or not: on Fargate (`CannotPullContainerError`, "Amazon ECS stopped tasks error messages") and on
EC2 when `ECS_IMAGE_PULL_BEHAVIOR` is `always` or `once` ("Container image pull behavior for the
Amazon EC2 launch type", ECS developer guide). So a sidecar image that cannot be pulled stops the
service that adopted it. The construct that adds the sidecar checks the image at deploy time
(infra/agent_sidecar.py); this rule catches what only shows at run time (a missing ECR endpoint in a
private subnet, a repository policy changed after the deploy, a deleted image).

The matching STOPPED events go to a queue (free at rest, 14 days to look at them), and the alarm
watches the queue's `NumberOfMessagesSent`: one metric ($0.10 a month) whatever the number of buses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.agent_sidecar import CONTAINER_NAME
from infra.events import ECS_SOURCE, TASK_STATE_CHANGE
from infra.queues import held_queue

PULL_ERROR: Final = "CannotPullContainerError"


def pull_failure_pattern() -> events.EventPattern:
    """STOPPED tasks with the agent's container whose task or container reason names a pull error."""
    wildcard = [{"wildcard": f"*{PULL_ERROR}*"}]
    return events.EventPattern(
        source=[ECS_SOURCE],
        detail_type=[TASK_STATE_CHANGE],
        detail={
            "lastStatus": ["STOPPED"],
            "containers": {"name": [CONTAINER_NAME]},
            "$or": [{"stoppedReason": wildcard}, {"containers": {"reason": wildcard}}],
        },
    )


class AgentPullFailures(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, buses: Sequence[events.IEventBus | None]
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = held_queue(self, "Stopped")
        for index, bus in enumerate(buses):
            events.Rule(
                self,
                f"Rule{index}",
                description="ECS tasks with the taskbeacon agent stopped by an image pull error",
                event_bus=bus,
                event_pattern=pull_failure_pattern(),
                targets=[targets.SqsQueue(self.queue)],
            )
        self.metric: cloudwatch.IMetric = self.queue.metric_number_of_messages_sent(
            period=cdk.Duration.minutes(5), statistic="Sum"
        )
