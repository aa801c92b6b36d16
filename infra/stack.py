"""The thin stack: composes the capability constructs, wires them, and exports the outputs."""

from __future__ import annotations

from collections.abc import Mapping
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
from infra.stackset import MemberStackSet
from infra.sweep import TaskBeaconSweep
from infra.table import InventoryTable


class TaskBeaconStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: TaskBeaconConfig,
        code: lambda_.Code | None = None,
        member_template: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """`member_template`: the member stack's synthesized template, for the member StackSet (created
        when `config.organizational_unit_ids` is set; infra/application.py passes it)."""
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
            change_events_bus_arn=config.change_events_bus_arn,
            change_events_bus_name=config.change_events_bus_name,
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
            principal_org_id=config.principal_org_id,
        )
        self.stack_set: MemberStackSet | None = None
        if config.organizational_unit_ids:
            if member_template is None or self.events.bus is None:
                raise ValueError("the member StackSet needs the member template and the organization's bus")
            self.stack_set = MemberStackSet(
                self,
                "Members",
                config=config,
                template=member_template,
                bus_arn=self.events.bus.event_bus_arn,
                sweeper_role_arn=self.functions.sweep_worker_role.role_arn,
            )
        self.sweep = TaskBeaconSweep(
            self,
            "Sweep",
            config=config,
            planner=self.functions.sweep_planner,
            worker=self.functions.sweep_worker,
            dead_letter_queue=self.dead_letters,
            # The first sweep reads the member roles the StackSet creates.
            run_after=[self.stack_set] if self.stack_set else [],
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
            queues=Queues(
                events_dead_letters=self.dead_letters,
                indexer_failures=self.indexing.failures,
            ),
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
        sweeper_role_arn = self.functions.sweep_worker_role.role_arn
        cdk.CfnOutput(
            self,
            "SweeperRoleArn",
            value=sweeper_role_arn,
            description="Member read-only roles trust exactly this role (the member's CentralSweeperRoleArn)",
        )
        bus_parameter: list[str] = []
        if self.events.bus is not None:
            cdk.CfnOutput(
                self,
                "EventBusArn",
                value=self.events.bus.event_bus_arn,
                description="Other accounts and regions forward 'ECS Task State Change' events to this bus",
            )
            bus_parameter = [" --parameters CentralBusArn=", self.events.bus.event_bus_arn]
        cdk.CfnOutput(
            self,
            "MemberTemplate",
            value=cdk.Fn.join(
                "",
                [
                    f"npx cdk deploy {config.member_stack_name}",
                    *bus_parameter,
                    " --parameters CentralSweeperRoleArn=",
                    sweeper_role_arn,
                ],
            ),
            description=(
                "In each account and region the member StackSet does not reach (the management account, "
                "accounts outside its OUs, every account without an organization, this one without a bus)"
            ),
        )
