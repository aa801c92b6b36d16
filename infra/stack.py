"""The thin stack: composes the capability constructs, wires them, and exports the outputs."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.agent_pull_failures import AgentPullFailures
from infra.api import TaskBeaconApi
from infra.config import TaskBeaconConfig, check_alarm_topic_region
from infra.events import EventsDeadLetterQueue, TaskStateEvents
from infra.functions import TaskBeaconFunctions
from infra.indexing import TaskBeaconIndexing
from infra.monitoring import Queues, TaskBeaconMonitoring
from infra.table import InventoryTable


class TaskBeaconStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TaskBeaconConfig,
        code: lambda_.Code | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description="taskbeacon: inventory of Amazon ECS tasks", **kwargs
        )
        self.config = config
        if not cdk.Token.is_unresolved(self.region):
            check_alarm_topic_region(config, self.region)
        self.table = InventoryTable(self, "Inventory").table
        self.dead_letters = EventsDeadLetterQueue(self, "EventsDlq").queue
        self.functions = TaskBeaconFunctions(
            self, "Functions", table=self.table, config=config, events_dlq=self.dead_letters, code=code
        )
        self.indexing = TaskBeaconIndexing(
            self,
            "Indexing",
            table=self.table,
            indexer=self.functions.indexer,
            reconciler=self.functions.reconciler,
            reconcile_interval_hours=config.reconcile_interval_hours,
        )
        self.api = TaskBeaconApi(
            self, "Http", ingest=self.functions.ingest, query=self.functions.query, config=config
        )
        self.events = TaskStateEvents(
            self,
            "TaskEvents",
            handler=self.functions.events,
            dead_letter_queue=self.dead_letters,
            source_accounts=config.event_bus_accounts,
        )
        self.pull_failures = AgentPullFailures(
            self, "AgentPullFailures", buses=[None, *([self.events.bus] if self.events.bus else [])]
        )
        self.monitoring = TaskBeaconMonitoring(
            self,
            "Monitoring",
            background_functions=self.functions.background,
            all_functions=self.functions.all,
            indexer=self.functions.indexer,
            api=self.api.api,
            table=self.table,
            queues=Queues(events_dead_letters=self.dead_letters, indexer_failures=self.indexing.failures),
            pull_failures=self.pull_failures.metric,
            alarm_topic_arn=config.alarm_topic_arn,
            dashboard=config.dashboard,
        )
        cdk.Tags.of(self).add("app", "taskbeacon")

        cdk.CfnOutput(self, "ApiUrl", value=self.api.api.url, description="TASKBEACON_ENDPOINT")
        cdk.CfnOutput(self, "TableName", value=self.table.table_name)
        cdk.CfnOutput(
            self,
            "SnapshotsInvokeArn",
            value=self.api.snapshots_invoke_arn,
            description="Grant task roles execute-api:Invoke on this ARN (POST /snapshots only)",
        )
        cdk.CfnOutput(
            self,
            "QueryInvokeArn",
            value=self.api.query_invoke_arn,
            description="Grant operators execute-api:Invoke on this ARN (all GET routes)",
        )
        if self.monitoring.dashboard is not None:
            cdk.CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        if self.events.bus is not None:
            cdk.CfnOutput(
                self,
                "EventBusArn",
                value=self.events.bus.event_bus_arn,
                description="Other accounts forward 'ECS Task State Change' events to this bus",
            )
