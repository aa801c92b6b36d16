"""cdk-nag AwsSolutions acknowledgments, each with the reason it is acceptable here (one place).

Each one is attached to the narrowest scope that has the finding, so the same finding elsewhere
(say a new `Resource: *` in another role) still fails synth.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from constructs import IConstruct

from infra.member import TaskBeaconMemberStack
from infra.stack import TaskBeaconStack

COG4: Final = (
    "AwsSolutions-COG4",
    "Every method uses AWS_IAM (SigV4) auth: callers are ECS task roles and operators' IAM identities, "
    "not Cognito users.",
)
APIG3: Final = (
    "AwsSolutions-APIG3",
    "Only SigV4-signed requests from the own account or organization reach the API (IAM auth plus resource "
    "policy), the stage is throttled; a WAF web ACL can be associated by the operator if required.",
)
APIG_CW_ROLE: Final = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    "The account-level API Gateway logging role uses the AWS managed policy made for exactly this purpose.",
)
XRAY: Final = (
    "AwsSolutions-IAM5[Resource::*]",
    "Only the X-Ray actions (xray:PutTraceSegments, xray:PutTelemetryRecords) added by active tracing "
    "(taskbeacon:tracing=true): they support no resource-level permissions.",
)
STREAM_LIST: Final = (
    "AwsSolutions-IAM5[Resource::*]",
    "dynamodb:ListStreams, which Lambda's stream event source mapping needs and which supports no "
    "resource-level permission; the stream's records are readable only on this table's stream ARN"
    " (plus, with taskbeacon:tracing=true, the X-Ray PutTraceSegments/PutTelemetryRecords actions, "
    "which support no resource-level permissions either).",
)
FAILURE_QUEUE: Final = (
    "AwsSolutions-SQS3",
    "This queue is itself a dead-letter queue: the on-failure destination of the indexer's stream event "
    "source mapping (cdk-nag only recognizes SQS redrive policies and EventBridge/Lambda DLQ settings).",
)
PULL_FAILURES_QUEUE: Final = (
    "AwsSolutions-SQS3",
    "This queue is the end of the line: it holds ECS STOPPED events of tasks whose agent image could not be "
    "pulled, for a human to read (its alarm fires on the first); nothing consumes it, so nothing can fail.",
)
NO_STAGE_LOGS: Final = (
    (
        "AwsSolutions-APIG1",
        "taskbeacon:manageApiGatewayAccount=false: access logs to CloudWatch Logs need the account-level "
        "API Gateway logging role, which this deployment must not manage; the stage's metrics, the "
        "functions' own logs and CloudTrail remain.",
    ),
    (
        "AwsSolutions-APIG6",
        "taskbeacon:manageApiGatewayAccount=false: execution logs need the account-level API Gateway "
        "logging role, which this deployment must not manage; the functions log every request.",
    ),
)
RUNTIME: Final = (
    "AwsSolutions-L1",
    "Pinned to python3.13 on purpose: the asset is built for cp313 (pydantic-core wheel) and tested on 3.13; "
    "moving to a newer runtime is a deliberate, tested change.",
)
DESCRIBE_TASKS: Final = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:*:<AWS::AccountId>:task/*]",
    "ecs:DescribeTasks cross-check (opt-in) must describe any task of this account in any region; "
    "it is read-only.",
)

ORGANIZATION_ACCOUNTS: Final = (
    "AwsSolutions-IAM5[Resource::*]",
    "organizations:ListAccounts (the sweep planner, only when no taskbeacon:sweepAccounts list is given) has "
    "no resource-level permission; it is read-only.",
)
MEMBER_READ_ONLY: Final = (
    "AwsSolutions-IAM5[Resource::*]",
    "The member's sweep role: ecs:ListClusters has no resource-level permission and the other calls are "
    "read-only lists and descriptions of what this account holds, limited to the role's own region "
    "(aws:RequestedRegion); only the central sweeper role may assume it.",
)


def _member_roles(role_arn_pattern: str) -> tuple[str, str]:
    return (
        f"AwsSolutions-IAM5[Resource::{role_arn_pattern}]",
        "sts:AssumeRole on the sweep's member read-only roles, by exact name and region in any account: "
        "the accounts come from taskbeacon:sweepAccounts or the organization, and each member role trusts "
        "this role by its exact ARN (docs/security.md). No other role can be assumed.",
    )


def _nag_form(value: str, stack: cdk.Stack) -> str:
    """How cdk-nag writes a resource in a finding id: intrinsics as <AWS::Partition>, <AWS::Region>."""
    return value.replace(cdk.Aws.PARTITION, "<AWS::Partition>").replace(cdk.Aws.REGION, "<AWS::Region>")


def acknowledge_member_findings(member: TaskBeaconMemberStack) -> None:
    _ack(member.reader.role, MEMBER_READ_ONLY)


def _ack(scope: IConstruct, *findings: tuple[str, str]) -> None:
    # One acknowledgment per id and scope: reasons for the same id (say `Resource::*` for X-Ray and for
    # the sweep's ECS reads on one role) are joined.
    reasons: dict[str, list[str]] = {}
    for finding, reason in findings:
        reasons.setdefault(finding, []).append(reason)
    cdk.Validations.of(scope).acknowledge(
        *(cdk.Acknowledgment(id=i, reason=" Also: ".join(r)) for i, r in reasons.items())
    )


def _findings(stack: TaskBeaconStack) -> list[tuple[IConstruct, tuple[tuple[str, str], ...]]]:
    """Each scope with what it acknowledges, for this configuration."""
    config = stack.config
    functions = stack.functions
    api_findings = [COG4, APIG3]
    api_findings += [APIG_CW_ROLE] if config.manage_api_gateway_account else list(NO_STAGE_LOGS)
    scoped: list[tuple[IConstruct, tuple[tuple[str, str], ...]]] = [
        (stack.api.api, tuple(api_findings)),
        (stack.indexing.failures, (FAILURE_QUEUE,)),
        (stack.pull_failures.queue, (PULL_FAILURES_QUEUE,)),
    ]
    for fn in functions.all:
        scoped.append((fn, (RUNTIME,)))
        role_findings: list[tuple[str, str]] = []
        if fn is functions.indexer:
            role_findings.append(STREAM_LIST)
        elif config.tracing:
            role_findings.append(XRAY)
        if fn is functions.ingest and config.describe_tasks_cross_check:
            role_findings.append(DESCRIBE_TASKS)
        if fn is functions.sweep_worker:
            role_findings += [_member_roles(_nag_form(arn, stack)) for arn in stack.sweep.member_role_arns]
        if fn is functions.sweep_planner and stack.sweep.lists_organization_accounts:
            role_findings.append(ORGANIZATION_ACCOUNTS)
        if role_findings:
            scoped.append((fn.role or stack, tuple(role_findings)))
    return scoped


def acknowledge_findings(stack: TaskBeaconStack) -> None:
    for scope, findings in _findings(stack):
        _ack(scope, *findings)


def acknowledged_ids(stack: TaskBeaconStack) -> list[str]:
    """For docs and tests: which findings this configuration acknowledges."""
    return sorted({finding for _, findings in _findings(stack) for finding, _ in findings})
