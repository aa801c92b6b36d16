"""The Lambda functions, each with its own least-privilege role and log group.

What each function may do to the table is written down once, here, as the DynamoDB API operations it
calls (`DYNAMODB_CALLS`); `iam_actions` turns them into the IAM actions that authorize them, and
`tests/infra/test_iam_covers_the_store.py` checks the synthesized roles against exactly that.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from infra.paths import environment, vocabulary

# The DynamoDB operations each function calls (the store's contract with the stack):
# - ingest and events write only their own task's items (one conditional write, or one
#   transaction of that task's items); they never touch index entries;
# - the indexer reads the stream and the tasks' records, writes index entries in batches, and the
#   change events' marks and digest registry;
# - the reconciler reads the live partition and moves a record's lease (one UpdateItem);
# - the sweep's worker records what ECS says like the events function does (a task's own items), reads
#   the stored records of a page of described tasks at once (BatchGetItem: an unchanged task costs no
#   write), and queries the index for the running tasks ECS no longer knows; its planner has no table
#   access at all (`FunctionSpec.table`);
# - query reads only. No function scans.
DYNAMODB_CALLS: Final[Mapping[vocabulary.Function, tuple[str, ...]]] = {
    "ingest": ("GetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems"),
    "events": ("GetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems"),
    "query": ("GetItem", "Query", "BatchGetItem"),
    "indexer": ("BatchGetItem", "BatchWriteItem", "PutItem", "DeleteItem", "UpdateItem", "GetItem", "Query"),
    "reconciler": ("Query", "UpdateItem"),
    "sweeper": ("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems"),
}
# TransactWriteItems is not an IAM action: a transaction is authorized by the actions of the items
# inside it (cfn-lint W3037 flags the name). The write path's transactions hold a task's own
# items as Put and Update; a Delete or ConditionCheck item would need its action added here.
TRANSACTION_ITEM_ACTIONS: Final = ("dynamodb:PutItem", "dynamodb:UpdateItem")
# Reading the table's stream (the event source mapping polls it with the indexer's role).
STREAM_READ_ACTIONS: Final = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)


def iam_actions(calls: tuple[str, ...]) -> tuple[str, ...]:
    """The IAM actions that authorize these DynamoDB operations, sorted, without duplicates."""
    actions: set[str] = set()
    for call in calls:
        if call == "TransactWriteItems":
            actions.update(TRANSACTION_ITEM_ACTIONS)
        else:
            actions.add(f"dynamodb:{call}")
    return tuple(sorted(actions))


MAX_BODY_BYTES: Final = 262_144


@dataclass(frozen=True)
class FunctionSpec:
    key: vocabulary.Function
    name: str
    handler: str
    memory_mb: int
    timeout_s: int
    table: bool = True  # whether the function touches the table (DYNAMODB_CALLS[key])

    @property
    def actions(self) -> tuple[str, ...]:
        return iam_actions(DYNAMODB_CALLS[self.key]) if self.table else ()


INGEST: Final = FunctionSpec("ingest", "Ingest", "handlers.ingest.handler", 512, 10)
QUERY: Final = FunctionSpec("query", "Query", "handlers.query.handler", 512, 15)
EVENTS: Final = FunctionSpec("events", "Events", "handlers.events.handler", 512, 30)
# A batch of up to INDEXER_BATCH_SIZE records and its batched writes; retried by the mapping.
INDEXER: Final = FunctionSpec("indexer", "Indexer", "handlers.indexer.handler", 1024, 120)
# Reads the whole index once per run: give it Lambda's longest timeout.
RECONCILER: Final = FunctionSpec("reconciler", "Reconciler", "handlers.reconciler.handler", 1024, 900)
# The sweep (infra/sweep.py): the planner lists the account-regions and invokes the worker
# asynchronously once each; the worker sweeps one account-region per invocation and, before its
# timeout, invokes itself asynchronously with the rest of its work (a continuation), so no
# account-region is bounded by one invocation.
SWEEP_PLANNER: Final = FunctionSpec(
    "sweeper", "SweepPlanner", "handlers.sweeper.plan_handler", 512, 300, table=False
)
SWEEP_WORKER: Final = FunctionSpec("sweeper", "SweepWorker", "handlers.sweeper.work_handler", 1024, 300)
# At most this many workers at once, reserved (free): at 5 ECS calls a second each, 250 a second over
# the whole organization. Reserved concurrency leaves the account's other functions 50 fewer.
SWEEP_WORKER_RESERVED_CONCURRENCY: Final = 50
SPECS: Final = (INGEST, QUERY, EVENTS, INDEXER, RECONCILER, SWEEP_PLANNER, SWEEP_WORKER)


class TaskBeaconFunctions(Construct):
    """ingest (POST /snapshots), query (GET routes), events (EventBridge), indexer (the table's
    stream), reconciler (a schedule) and the sweep's planner and worker, sharing one asset, each with
    a role of its own. The sweep's worker role has a fixed name (`<stackName>-sweeper`): every member
    account's read-only role trusts exactly that ARN."""

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
        variables = environment.environment(
            tracing=config.tracing,
            table_name=table.table_name,
            collector_role_arns=",".join(config.collector_role_arns),
            stopped_retention_days=str(config.retention_days),
            keepalive_seconds=str(config.keepalive_seconds),
            max_body_bytes=str(MAX_BODY_BYTES),
            describe_tasks_cross_check=str(config.describe_tasks_cross_check).lower(),
            events_from_organization=str(bool(config.organizational_unit_ids)).lower(),
        )
        # No pydantic plugins are used; skipping their discovery shortens every cold start.
        variables["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
        self._tracing = lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED
        retention = log_retention(config.log_retention_days)
        self.ingest = self._function(INGEST, code, table, variables, retention)
        self.query = self._function(QUERY, code, table, variables, retention)
        # Failed async invocations (after Lambda's own retries) land in the same DLQ as
        # undeliverable events, so one alarm covers both.
        self.events = self._function(EVENTS, code, table, variables, retention, dead_letter_queue=events_dlq)
        self.indexer = self._function(INDEXER, code, table, variables, retention)
        self.reconciler = self._function(RECONCILER, code, table, variables, retention)
        # A failed scheduled (or post-deploy) planning run lands with the undeliverable events (alarmed).
        self.sweep_planner = self._function(
            SWEEP_PLANNER, code, table, variables, retention, dead_letter_queue=events_dlq
        )
        self.sweep_worker = self._function(
            SWEEP_WORKER,
            code,
            table,
            variables,
            retention,
            role_name=config.sweeper_role_name,
            reserved_concurrency=SWEEP_WORKER_RESERVED_CONCURRENCY,
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
    def sweep_worker_role(self) -> iam.IRole:
        role = self.sweep_worker.role
        assert role is not None  # created in _function
        return role

    @property
    def all(self) -> tuple[lambda_.Function, ...]:
        return (
            self.ingest,
            self.query,
            self.events,
            self.indexer,
            self.reconciler,
            self.sweep_planner,
            self.sweep_worker,
        )

    @property
    def background(self) -> tuple[lambda_.Function, ...]:
        """The functions no API caller sees fail (ingest and query errors are the API's 5xx), whose
        Errors are alarmed. The sweep's are not: what fails there ends in the events dead-letter queue
        (the planner's dead-letter queue, the worker's on-failure destination), which is alarmed
        (infra/monitoring.py)."""
        return (self.events, self.indexer, self.reconciler)

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        table: dynamodb.ITable,
        environment: dict[str, str],
        retention: logs.RetentionDays,
        *,
        dead_letter_queue: sqs.IQueue | None = None,
        role_name: str | None = None,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        # An explicit role per function instead of AWSLambdaBasicExecutionRole: logs are granted
        # on the function's own log group only.
        role = iam.Role(
            self,
            f"{spec.name}Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"taskbeacon {spec.key if spec.name.lower() == spec.key else spec.name} function",
        )
        log_group = logs.LogGroup(
            self, f"{spec.name}Logs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        log_group.grant_write(role)
        if spec.actions:
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
            tracing=self._tracing,
            dead_letter_queue=dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency,
            description=f"taskbeacon {spec.handler}",
        )
