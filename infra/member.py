"""The member template: what every account and region of the organization holds for taskbeacon.

One CloudFormation template serves every account and region, so everything that differs between
them is a CloudFormation parameter or a pseudo parameter:
- `CentralBusArn` (the central stack's output `EventBusArn`; empty, the default, forwards nothing: a
  deployment without an organization or `eventBusAccounts` has no bus, and its own account needs only
  the read-only role) and `CentralSweeperRoleArn` (its output `SweeperRoleArn`);
- `AWS::Region` in the read-only role's name, since IAM names are global and one StackSet instance
  runs per region.
The template holds no asset (a StackSet takes only a template body) and needs no CDK bootstrap
(`LegacyStackSynthesizer`: no bootstrap version rule, no staging bucket, no deploy roles; the CLI
deploys it with the caller's own credentials): `cdk deploy <stackName>Member --parameters ...` works
in an account that was never bootstrapped, and the StackSet (infra/stackset.py) deploys the very same
template.

It holds:
1. the forwarding rule (infra/events.py `TaskStateEventsForwarder`): ECS task state changes, the
   statuses the central rule keeps, to the central bus, across accounts and regions, with a role that
   may only `events:PutEvents` on that bus. In the central account's central region the events are
   already on the central stack's own default-bus rule, so the rule is left out there (condition
   `ForwardEvents`), or every event would be processed twice; so it is without a bus ARN;
2. the sweep's read-only role `<sweepRoleName>-<region>`: ECS list/describe calls only, in its own
   region only, assumable only by the central sweeper role (docs/security.md "The sweep's read-only
   role"). The sweep reads every account through this role, the central account included.
"""

from __future__ import annotations

from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import TaskBeaconConfig
from infra.events import TaskStateEventsForwarder

CENTRAL_BUS_ARN: Final = "CentralBusArn"
CENTRAL_SWEEPER_ROLE_ARN: Final = "CentralSweeperRoleArn"
FORWARD_CONDITION: Final = "ForwardEvents"
# What the sweep reads (DESIGN 3.9): clusters, their tasks, each task's description.
SWEEP_ACTIONS: Final = ("ecs:ListClusters", "ecs:ListTasks", "ecs:DescribeTasks")
# Read-only too, for drift ("Task Drifted", DESIGN 3.10): which service revision a task should run
# (ListServiceDeployments, DescribeServiceRevisions, DescribeServices). Granted now so that drift
# detection needs no second rollout of the member StackSet to every account and region.
DRIFT_ACTIONS: Final = ("ecs:ListServiceDeployments", "ecs:DescribeServiceRevisions", "ecs:DescribeServices")
READ_ONLY_ACTIONS: Final = (*SWEEP_ACTIONS, *DRIFT_ACTIONS)
# The parameters' shapes, checked by CloudFormation before anything is created.
_BUS_ARN_PATTERN: Final = r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.\-/]+)?$"
_ROLE_ARN_PATTERN: Final = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@\-/]+$"


class SweepReadOnlyRole(Construct):
    """`<role_name>-<region>`: the ECS reads of the sweep, in this region, for the central sweeper only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        sweeper_role_arn: str,
        principal_org_id: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        region = cdk.Stack.of(self).region
        # An exact role ARN: no other principal of the central account (or of any account) can assume
        # this role, whatever its own IAM policy says. With an organization, the caller must also be in
        # it: a central account that left the organization loses access at once.
        trusted = iam.ArnPrincipal(sweeper_role_arn)
        conditions: dict[str, Any] = {}
        if principal_org_id:
            conditions = {"StringEquals": {"aws:PrincipalOrgID": principal_org_id}}
        self.role = iam.Role(
            self,
            "Role",
            role_name=f"{role_name}-{region}",
            assumed_by=trusted.with_conditions(conditions) if conditions else trusted,
            description="taskbeacon sweep: read-only ECS list/describe calls in this region",
            max_session_duration=cdk.Duration.hours(1),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EcsReadOnlyInThisRegion",
                actions=list(READ_ONLY_ACTIONS),
                # ListClusters has no resource-level permission; the others read what the account holds
                # in the region the request names, which the condition pins to this role's own region.
                resources=["*"],
                conditions={"StringEquals": {"aws:RequestedRegion": region}},
            )
        )


class TaskBeaconMemberStack(cdk.Stack):
    """The member template (one per account and region), deployed by the StackSet or by `cdk deploy`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: TaskBeaconConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="taskbeacon member: forwards ECS task state changes, lets the sweep read ECS",
            # No bootstrap in member accounts: no version rule, no staging bucket, no deploy roles (the
            # template is small and has no asset; the CLI deploys its body with the caller's credentials).
            synthesizer=cdk.LegacyStackSynthesizer(),
            # No CDKMetadata resource (and its region condition): a smaller StackSet template body.
            analytics_reporting=False,
            **kwargs,
        )
        self.config = config
        bus_arn = cdk.CfnParameter(
            self,
            CENTRAL_BUS_ARN,
            type="String",
            default="",
            allowed_pattern=_BUS_ARN_PATTERN,
            description="The taskbeacon stack's output EventBusArn (the central bus); empty: no forwarding",
            constraint_description="an EventBridge event bus ARN, or empty",
        )
        sweeper_arn = cdk.CfnParameter(
            self,
            CENTRAL_SWEEPER_ROLE_ARN,
            type="String",
            allowed_pattern=_ROLE_ARN_PATTERN,
            description="The taskbeacon stack's output SweeperRoleArn (the one role trusted here)",
            constraint_description="an IAM role ARN",
        )
        # arn:<partition>:events:<region>:<account>:event-bus/<name>; the padding keeps Fn::Select in
        # range when the parameter is empty (CloudFormation refuses an index past the end).
        bus_parts = cdk.Fn.split(":", cdk.Fn.join("", [bus_arn.value_as_string, ":::::"]))
        central_here = cdk.Fn.condition_and(
            cdk.Fn.condition_equals(cdk.Fn.select(4, bus_parts), cdk.Aws.ACCOUNT_ID),
            cdk.Fn.condition_equals(cdk.Fn.select(3, bus_parts), cdk.Aws.REGION),
        )
        forward = cdk.CfnCondition(
            self,
            FORWARD_CONDITION,
            expression=cdk.Fn.condition_and(
                cdk.Fn.condition_not(cdk.Fn.condition_equals(bus_arn.value_as_string, "")),
                cdk.Fn.condition_not(central_here),
            ),
        )
        self.forwarder = TaskStateEventsForwarder(self, "TaskEvents", bus_arn=bus_arn.value_as_string)
        for child in self.forwarder.node.find_all():
            if isinstance(child, cdk.CfnResource):
                child.cfn_options.condition = forward
        self.reader = SweepReadOnlyRole(
            self,
            "SweepReader",
            role_name=config.sweep_role_name,
            sweeper_role_arn=sweeper_arn.value_as_string,
            principal_org_id=config.principal_org_id,
        )
        cdk.CfnOutput(self, "SweepReaderRoleArn", value=self.reader.role.role_arn)
        cdk.Tags.of(self).add("app", "taskbeacon")
