"""cdk-nag AwsSolutions acknowledgments, each with the reason it is acceptable here (one place).

Each one is attached to the narrowest scope that has the finding, so the same finding elsewhere
(say a new `Resource: *` in another role) still fails synth.
"""

from __future__ import annotations

from typing import Final

import aws_cdk as cdk
from constructs import IConstruct

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
    "Only the X-Ray actions (xray:PutTraceSegments, xray:PutTelemetryRecords) added by active tracing: "
    "they support no resource-level permissions.",
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


def _ack(scope: IConstruct, *findings: tuple[str, str]) -> None:
    cdk.Validations.of(scope).acknowledge(*(cdk.Acknowledgment(id=i, reason=r) for i, r in findings))


def acknowledge_findings(stack: TaskBeaconStack) -> None:
    _ack(stack.api.api, COG4, APIG3, APIG_CW_ROLE)
    _ack(stack.functions.query.role or stack, XRAY)
    _ack(stack.functions.events.role or stack, XRAY)
    ingest_findings = [XRAY, DESCRIBE_TASKS] if stack.config.describe_tasks_cross_check else [XRAY]
    _ack(stack.functions.ingest.role or stack, *ingest_findings)
    _ack(stack.functions.ingest, RUNTIME)
    _ack(stack.functions.query, RUNTIME)
    _ack(stack.functions.events, RUNTIME)


def acknowledged_ids(stack: TaskBeaconStack) -> list[str]:
    """For docs and tests: which findings this configuration acknowledges."""
    ids = [COG4[0], APIG3[0], APIG_CW_ROLE[0], XRAY[0], RUNTIME[0]]
    return [*ids, DESCRIBE_TASKS[0]] if stack.config.describe_tasks_cross_check else ids
