"""Builds the CDK app: context configuration, the stack and the cdk-nag gate (used by app.py and tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks

from infra.config import config_from_context
from infra.nag import acknowledge_findings
from infra.stack import TaskBeaconStack


class BuiltApp(NamedTuple):
    app: cdk.App
    stack: TaskBeaconStack


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    code: lambda_.Code | None = None,
) -> BuiltApp:
    """No environment on the stack and no lookups: synth needs no AWS credentials.

    Raises ConfigError (naming the context key) before any construct exists.
    """
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = config_from_context(app.node.get_all_context())
    stack = TaskBeaconStack(app, config.stack_name, config=config, code=code)
    # cdk-nag 3: rule packs are policy-validation plugins; an unacknowledged error fails synth.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
    return BuiltApp(app, stack)
