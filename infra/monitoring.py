"""Alarms on what needs a human (errors, throttles, dead letters) and one dashboard."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

FIVE_MINUTES = cdk.Duration.minutes(5)
_DDB_OPERATIONS = [
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
]


class TaskBeaconMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[lambda_.Function],
        api: apigw.RestApi,
        table: dynamodb.Table,
        dead_letter_queue: sqs.IQueue,
        alarm_topic_arn: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        for fn in functions:
            name = fn.node.id
            self._alarm(f"{name}Errors", fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"), 1)
            self._alarm(f"{name}Throttles", fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), 1)
        self._alarm("Api5xx", api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"), 5)
        ddb_throttles = cloudwatch.MathExpression(
            expression="reads + writes",
            using_metrics={
                "reads": table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                "writes": table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
            },
            label="DynamoDB throttle events",
            period=FIVE_MINUTES,
        )
        self._alarm("TableThrottles", ddb_throttles, 1)
        ddb_errors = table.metric_system_errors_for_operations(
            operations=_DDB_OPERATIONS, period=FIVE_MINUTES
        )
        self._alarm("TableSystemErrors", ddb_errors, 1)
        dlq_depth = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm("EventsDeadLetters", dlq_depth, 1)

        if alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(6))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24, height=4)
        )
        self.dashboard.add_widgets(
            _graph("Invocations", [fn.metric_invocations(period=FIVE_MINUTES) for fn in functions]),
            _graph("Errors", [fn.metric_errors(period=FIVE_MINUTES) for fn in functions]),
            _graph(
                "Duration p99", [fn.metric_duration(period=FIVE_MINUTES, statistic="p99") for fn in functions]
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "API requests",
                [
                    api.metric_count(period=FIVE_MINUTES),
                    api.metric_client_error(period=FIVE_MINUTES),
                    api.metric_server_error(period=FIVE_MINUTES),
                ],
            ),
            _graph("API latency p99", [api.metric_latency(period=FIVE_MINUTES, statistic="p99")]),
            _graph(
                "DynamoDB",
                [
                    table.metric_consumed_read_capacity_units(period=FIVE_MINUTES),
                    table.metric_consumed_write_capacity_units(period=FIVE_MINUTES),
                    ddb_throttles,
                    dlq_depth,
                ],
            ),
        )

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"taskbeacon: {name} (>= {threshold:g} in 5 minutes)",
            )
        )


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)
