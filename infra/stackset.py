"""The member StackSet: the member template in every account of the chosen OUs and regions, by itself.

`AWS::CloudFormation::StackSet` with service-managed permissions ("AWS::CloudFormation::StackSet",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-stackset.html):
- `PermissionModel: SERVICE_MANAGED`: StackSets creates the roles it needs in the target accounts
  through AWS Organizations (trusted access for StackSets must be enabled once in the organization);
- `AutoDeployment` on: an account that joins a target OU gets the member stack in every region of the
  StackSet, and an account that leaves loses it (`RetainStacksOnAccountRemoval: false`);
- `CallAs`: `SELF` from the management account, `DELEGATED_ADMIN` from a delegated administrator
  account for StackSets (context `taskbeacon:stackSetCallAs`);
- `StackInstancesGroup`: `DeploymentTargets.OrganizationalUnitIds` x `Regions`. StackSets never
  deploys to the management account, even when it is in a target OU (API reference,
  "DeploymentTargets"): deploy the member stack there directly if it runs ECS tasks;
- `TemplateBody`: the member template itself (at most 51,200 bytes, "CreateStackSet"), synthesized
  in-process from `TaskBeaconMemberStack`, so the StackSet and `cdk deploy <stackName>Member` deploy
  the same JSON;
- `OperationPreferences`: all regions in parallel, a quarter of the accounts at a time, and a region
  goes on while under a tenth of its accounts fail (`SOFT_FAILURE_TOLERANCE` keeps the concurrency
  when some fail: one account with a conflicting role name must not stall the rollout of hundreds).
  These apply to operations on the StackSet; automatic deployments to new accounts ignore them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from typing import Any, Final

import aws_cdk as cdk
from aws_cdk import aws_cloudformation as cfn
from constructs import Construct

from infra.config import TaskBeaconConfig
from infra.member import CENTRAL_BUS_ARN, CENTRAL_SWEEPER_ROLE_ARN, TaskBeaconMemberStack

# CreateStackSet/UpdateStackSet TemplateBody: "a minimum length of 1 byte and a maximum length of
# 51,200 bytes".
TEMPLATE_BODY_MAX_BYTES: Final = 51_200
FAILURE_TOLERANCE_PERCENT: Final = 10
MAX_CONCURRENT_PERCENT: Final = 25


def member_template(config: TaskBeaconConfig, context: Mapping[str, Any]) -> dict[str, Any]:
    """The member stack's template, synthesized in an app of its own (same construct ids, same context:
    the same JSON as the `<stackName>Member` stack of the main app)."""
    with tempfile.TemporaryDirectory(prefix="taskbeacon-member-") as outdir:
        app = cdk.App(context=dict(context), outdir=outdir)
        stack = TaskBeaconMemberStack(app, config.member_stack_name, config=config)
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def template_body(template: Mapping[str, Any]) -> str:
    """Compact JSON; refuses (at synth) a body CloudFormation would refuse at deploy."""
    body = json.dumps(template, separators=(",", ":"))
    size = len(body.encode())
    if size > TEMPLATE_BODY_MAX_BYTES:
        raise ValueError(
            f"the member template is {size} bytes; a StackSet's TemplateBody takes at most "
            f"{TEMPLATE_BODY_MAX_BYTES}"
        )
    return body


class MemberStackSet(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TaskBeaconConfig,
        template: Mapping[str, Any],
        bus_arn: str,
        sweeper_role_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stack_set = cfn.CfnStackSet(
            self,
            "StackSet",
            stack_set_name=f"{config.stack_name}-member",
            description="taskbeacon member: ECS task events to the central bus, the sweep's read-only role",
            permission_model="SERVICE_MANAGED",
            call_as=config.stack_set_call_as,
            auto_deployment=cfn.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            # The read-only role has a fixed name (`<sweepRoleName>-<region>`).
            capabilities=["CAPABILITY_NAMED_IAM"],
            managed_execution={"Active": True},  # queue operations instead of failing on a running one
            operation_preferences=cfn.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="PARALLEL",
                failure_tolerance_percentage=FAILURE_TOLERANCE_PERCENT,
                max_concurrent_percentage=MAX_CONCURRENT_PERCENT,
                concurrency_mode="SOFT_FAILURE_TOLERANCE",
            ),
            parameters=[
                cfn.CfnStackSet.ParameterProperty(parameter_key=CENTRAL_BUS_ARN, parameter_value=bus_arn),
                cfn.CfnStackSet.ParameterProperty(
                    parameter_key=CENTRAL_SWEEPER_ROLE_ARN, parameter_value=sweeper_role_arn
                ),
            ],
            stack_instances_group=[
                cfn.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cfn.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(config.organizational_unit_ids)
                    ),
                    regions=list(config.member_regions),
                )
            ],
            template_body=template_body(template),
        )
