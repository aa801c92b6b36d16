"""The three Lambda functions, each with its own least-privilege role and log group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ARCHITECTURE, RUNTIME, lambda_code
from infra.config import TaskBeaconConfig, log_retention

# The write path (newer-wins conditional writes in one transaction) and nothing more: no Scan,
# no table-level actions. TransactWriteItems is not an IAM action: a transaction is authorized by
# the Put/Update/Delete/ConditionCheck actions it contains (cfn-lint W3037 flags it). DeleteItem is
# there because a task's index entries move (status RUNNING -> STOPPED deletes the RUNNING entry);
# tests/infra/test_iam_covers_the_store.py checks this list against the calls the store makes.
WRITE_ACTIONS: Final = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)
READ_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")

SERVICE_NAME: Final = "taskbeacon"
METRICS_NAMESPACE: Final = "TaskBeacon"
MAX_BODY_BYTES: Final = 262_144


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str
    memory_mb: int
    timeout_s: int
    actions: tuple[str, ...]


INGEST: Final = FunctionSpec("Ingest", "handlers.ingest.handler", 512, 10, WRITE_ACTIONS)
QUERY: Final = FunctionSpec("Query", "handlers.query.handler", 512, 15, READ_ACTIONS)
EVENTS: Final = FunctionSpec("Events", "handlers.events.handler", 512, 30, WRITE_ACTIONS)


class TaskBeaconFunctions(Construct):
    """ingest (POST /snapshots), query (GET routes) and events (EventBridge) sharing one asset."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        config: TaskBeaconConfig,
        events_dlq: sqs.IQueue,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        code = code or lambda_code()
        environment = {
            "TABLE_NAME": table.table_name,
            "COLLECTOR_ROLE_ARNS": ",".join(config.collector_role_arns),
            "STOPPED_RETENTION_DAYS": str(config.retention_days),
            "KEEPALIVE_SECONDS": str(config.keepalive_seconds),
            "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "DESCRIBE_TASKS_CROSS_CHECK": str(config.describe_tasks_cross_check).lower(),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        retention = log_retention(config.log_retention_days)
        self.ingest = self._function(INGEST, code, table, environment, retention)
        self.query = self._function(QUERY, code, table, environment, retention)
        # Failed async invocations (after Lambda's own retries) land in the same DLQ as
        # undeliverable events, so one alarm covers both.
        self.events = self._function(
            EVENTS, code, table, environment, retention, dead_letter_queue=events_dlq
        )
        if config.describe_tasks_cross_check:
            self.ingest.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:DescribeTasks"],
                    # Own account only: tasks of other accounts cannot be described from here.
                    resources=[cdk.Stack.of(self).format_arn(service="ecs", region="*", resource="task/*")],
                )
            )

    @property
    def all(self) -> tuple[lambda_.Function, ...]:
        return (self.ingest, self.query, self.events)

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        table: dynamodb.ITable,
        environment: dict[str, str],
        retention: logs.RetentionDays,
        *,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        # An explicit role per function instead of AWSLambdaBasicExecutionRole: logs are granted
        # on the function's own log group only.
        role = iam.Role(
            self,
            f"{spec.name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"taskbeacon {spec.name.lower()} function",
        )
        log_group = logs.LogGroup(
            self, f"{spec.name}Logs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        table.grant(role, *spec.actions)
        return lambda_.Function(
            self,
            spec.name,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            role=role,
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(spec.timeout_s),
            environment=environment,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            dead_letter_queue=dead_letter_queue,
            description=f"taskbeacon {spec.handler}",
        )
