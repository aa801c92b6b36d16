"""ECS task state changes -> events Lambda, from this account and optionally from other accounts."""

from __future__ import annotations

from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

ECS_SOURCE: Final = "aws.ecs"
TASK_STATE_CHANGE: Final = "ECS Task State Change"
RETRY_ATTEMPTS: Final = 8
# The inventory needs a task's RUNNING event (startedAt, the repository image digests, network) and
# its STOPPED event (stoppedAt, stop code and reason, exit codes); the ECS events that announce a
# stop while the task still runs carry lastStatus RUNNING and pass too. The transitional states
# (PROVISIONING, PENDING, ACTIVATING, DEACTIVATING, STOPPING, DEPROVISIONING) add nothing a query
# answers, and are about 5 of a Fargate task's ~8 events: dropping them at the rule saves that share
# of the events Lambda's invocations and of the write units those events cost
# (docs/decisions/infra.md "EventBridge: only the task state changes the inventory needs").
TASK_STATUSES: Final = ("RUNNING", "STOPPED")


def task_state_change_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=[ECS_SOURCE],
        detail_type=[TASK_STATE_CHANGE],
        detail={"lastStatus": list(TASK_STATUSES)},
    )


class EventsDeadLetterQueue(Construct):
    """Holds events EventBridge could not deliver and async invocations that kept failing."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),  # the maximum: time to notice and redrive
            # Undelivered events are evidence: deleting the stack must not delete them with it.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )


class TaskStateEvents(Construct):
    """The rule on the account's default bus, plus a dedicated bus for other accounts (if any).

    Other accounts forward to the dedicated bus rather than to this account's default bus, so
    their permission covers only ECS task events for taskbeacon, not the default bus as a whole.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        source_accounts: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        target = targets.LambdaFunction(
            handler,
            dead_letter_queue=dead_letter_queue,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=cdk.Duration.hours(24),
        )
        self.rule = events.Rule(
            self,
            "TaskStateChange",
            description="ECS task state changes of this account -> taskbeacon events function",
            event_pattern=task_state_change_pattern(),
            targets=[target],
        )
        self.bus: events.EventBus | None = None
        self.cross_account_rule: events.Rule | None = None
        if source_accounts:
            self.bus = events.EventBus(self, "CrossAccountBus", description="ECS task events for taskbeacon")
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="EcsTaskEventsFromAccounts",
                    principals=[iam.AccountPrincipal(account) for account in source_accounts],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions=_only_ecs_task_events(),
                )
            )
            self.cross_account_rule = events.Rule(
                self,
                "CrossAccountTaskStateChange",
                description="ECS task state changes forwarded by other accounts -> taskbeacon",
                event_bus=self.bus,
                event_pattern=task_state_change_pattern(),
                targets=[target],
            )


def _only_ecs_task_events() -> dict[str, Any]:
    # The form of AWS's own example (eb-event-bus-example-policy-cross-account-custom-bus-source):
    # events:source is multi-valued (one PutEvents call may carry several entries).
    return {
        "ForAllValues:StringEquals": {"events:source": [ECS_SOURCE]},
        "StringEquals": {"events:detail-type": TASK_STATE_CHANGE},
    }


class TaskStateEventsForwarder(Construct):
    """For a member account's stack: forward its ECS task state changes to the taskbeacon bus.

    The account must be listed in `taskbeacon:eventBusAccounts` of the taskbeacon stack, whose
    output `EventBusArn` is `bus_arn`. Same region only (EventBridge delivers cross-region too,
    but ECS task ARNs already carry their region and one taskbeacon per region is simpler).
    """

    def __init__(self, scope: Construct, construct_id: str, *, bus_arn: str) -> None:
        super().__init__(scope, construct_id)
        bus = events.EventBus.from_event_bus_arn(self, "TaskBeaconBus", bus_arn)
        # AWS recommends a role on rules whose target is an event bus.
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
        self.rule = events.Rule(
            self,
            "Forward",
            description="ECS task state changes -> taskbeacon",
            event_pattern=task_state_change_pattern(),
            targets=[targets.EventBus(bus, role=role)],
        )
