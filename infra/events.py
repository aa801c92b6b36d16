"""ECS task state changes -> events Lambda, from this account and optionally from other accounts."""

from __future__ import annotations

import copy
from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.paths import vocabulary
from infra.queues import held_queue

ECS_SOURCE: Final = vocabulary.ECS_EVENT_SOURCE
TASK_STATE_CHANGE: Final = vocabulary.TASK_STATE_CHANGE
RETRY_ATTEMPTS: Final = 8
# The inventory needs a task's RUNNING event (startedAt, the repository image digests, network) and
# its STOPPED event (stoppedAt, stop code and reason, exit codes). The transitional states
# (PROVISIONING, PENDING, ACTIVATING, DEACTIVATING, STOPPING, DEPROVISIONING) add nothing a query
# answers, and are about 5 of a Fargate task's ~8 events; the event that announces a stop while the
# task still runs (lastStatus RUNNING, desiredStatus STOPPED) says nothing the STOPPED event does not
# say moments later. Dropping them at the rule saves their events Lambda invocations and the write
# units they cost (docs/decisions/infra.md "EventBridge: only the task state changes the inventory
# needs"). EventBridge's "$or" matches either shape (EventBridge User Guide, "Content filtering in
# Amazon EventBridge event patterns", Or matching). The pattern is named once, in core.vocabulary:
# local mode applies the same one.
TASK_STATUSES: Final = ("RUNNING", "STOPPED")


def task_state_change_pattern() -> events.EventPattern:
    return events.EventPattern(
        source=[ECS_SOURCE],
        detail_type=[TASK_STATE_CHANGE],
        detail=copy.deepcopy(vocabulary.TASK_STATE_CHANGE_DETAIL_PATTERN),
    )


class EventsDeadLetterQueue(Construct):
    """Holds events EventBridge could not deliver and async invocations that kept failing."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Undelivered events are evidence: deleting the stack must not delete them with it.
        self.queue = held_queue(self, "Queue", removal_policy=cdk.RemovalPolicy.RETAIN)


class TaskStateEvents(Construct):
    """The rule on the account's default bus, plus a dedicated bus for other accounts and regions.

    Other accounts (and this account's other regions) forward to the dedicated bus rather than to this
    account's default bus, so their permission covers only ECS task events for taskbeacon, not the
    default bus as a whole. The bus exists when an organization (`principal_org_id`: every account of
    it, by `aws:PrincipalOrgID`) or a list of accounts (`source_accounts`, for setups without an
    organization) may put events on it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        source_accounts: tuple[str, ...] = (),
        principal_org_id: str = "",
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
        if not (source_accounts or principal_org_id):
            return
        self.bus = events.EventBus(self, "CrossAccountBus", description="ECS task events for taskbeacon")
        if principal_org_id:
            # "Principal: * with the organization id as a condition" is how EventBridge grants a whole
            # organization (AWS::Events::EventBusPolicy and PutPermission, "Condition ... aws:PrincipalOrgID";
            # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html). The
            # forwarding rules of the member template put events with their role, whose account is in
            # the organization; accounts joining later are admitted without a change here.
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="EcsTaskEventsFromOrganization",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions=_only_ecs_task_events({"aws:PrincipalOrgID": principal_org_id}),
                )
            )
        if source_accounts:
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
            description="ECS task state changes forwarded by other accounts and regions -> taskbeacon",
            event_bus=self.bus,
            event_pattern=task_state_change_pattern(),
            targets=[target],
        )


def _only_ecs_task_events(also_equal: dict[str, str] | None = None) -> dict[str, Any]:
    # The form of AWS's own example (eb-event-bus-example-policy-cross-account-custom-bus-source):
    # events:source is multi-valued (one PutEvents call may carry several entries).
    return {
        "ForAllValues:StringEquals": {"events:source": [ECS_SOURCE]},
        "StringEquals": {**(also_equal or {}), "events:detail-type": TASK_STATE_CHANGE},
    }


class TaskStateEventsForwarder(Construct):
    """Forward this account's ECS task state changes to the taskbeacon bus (`bus_arn`, the output
    `EventBusArn`; a token such as a CloudFormation parameter is fine), in any account and region.

    The member template (infra/member.py) is made of this and the sweep's read-only role; a CDK app of
    a member account can use this construct alone. The account must be admitted by the bus: in the
    organization of `taskbeacon:principalOrgId`, or listed in `taskbeacon:eventBusAccounts`.
    EventBridge delivers to a bus of another account and of another region alike ("Sending and
    receiving events between AWS Regions", eb-cross-region.html; "Sending and receiving events between
    AWS accounts", eb-cross-account.html). A rule whose target is a bus in another account or region
    must carry a role (AWS recommends one for every bus target, eb-event-bus-perms.html, and requires
    it when the bus admits an organization, PutPermission): the role may only put events on that bus.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bus_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="taskbeacon: EventBridge puts ECS task state changes on the taskbeacon bus",
        )
        # Written out rather than left to the EventBus target's grant: one statement, this bus only.
        self.role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn]))
        self.rule = events.Rule(
            self,
            "Forward",
            description="ECS task state changes -> taskbeacon",
            event_pattern=task_state_change_pattern(),
            targets=[
                targets.EventBus(
                    events.EventBus.from_event_bus_arn(self, "TaskBeaconBus", bus_arn), role=self.role
                )
            ],
        )
