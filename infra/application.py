"""Builds the CDK app: context configuration, the two stacks and the cdk-nag gate (used by app.py and tests).

Two stacks: `<stackName>` (taskbeacon itself, with the member StackSet when OUs are given) and
`<stackName>Member` (the member template, parameterized, for one account and region).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks

from infra.config import check_alarm_topic_region, config_from_context
from infra.member import TaskBeaconMemberStack
from infra.nag import acknowledge_findings, acknowledge_member_findings
from infra.stack import TaskBeaconStack
from infra.stackset import member_template


class BuiltApp(NamedTuple):
    app: cdk.App
    stack: TaskBeaconStack
    member: TaskBeaconMemberStack


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    code: lambda_.Code | None = None,
    deploy_region: str | None = None,
) -> BuiltApp:
    """No environment on the stack and no lookups: synth needs no AWS credentials.

    Raises ConfigError (naming the context key) before any construct exists. The stack is
    environment-agnostic, so `cdk deploy` puts it in the CLI's region, which the CLI passes to the
    app as CDK_DEFAULT_REGION: when that is known (`deploy_region`, default from the environment),
    settings that must be in the stack's region are checked against it.
    """
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = config_from_context(app.node.get_all_context())
    region = deploy_region if deploy_region is not None else os.environ.get("CDK_DEFAULT_REGION", "")
    if region:
        check_alarm_topic_region(config, region)
    # The member template, synthesized first in an app of its own, is the StackSet's template body.
    template = member_template(config, app.node.get_all_context()) if config.organizational_unit_ids else None
    stack = TaskBeaconStack(app, config.stack_name, config=config, code=code, member_template=template)
    # The same template as a stack of its own: `cdk deploy <stackName>Member --parameters ...` in
    # accounts and regions the StackSet does not reach (and its file is what a StackSet can take).
    member = TaskBeaconMemberStack(app, config.member_stack_name, config=config)
    # cdk-nag 3: rule packs are policy-validation plugins; an unacknowledged error fails synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
    acknowledge_member_findings(member)
    return BuiltApp(app, stack, member)
