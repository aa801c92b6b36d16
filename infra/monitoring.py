"""Alarms on what needs a human (errors, throttles, rejections, dead letters, lag) and one dashboard.

Every alarm on a sum of sparse metrics fills each operand's missing datapoints with 0 (`FILL`):
CloudWatch emits no datapoint for a period without events, and an expression with one empty
operand is empty, so without FILL such an alarm could never fire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, SERVICE_NAME
from infra.paths import errors

FIVE_MINUTES: Final = cdk.Duration.minutes(5)
# Operations whose SystemErrors count (the stream's GetRecords included: the indexer reads it).
DDB_OPERATIONS: Final = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "GetRecords",
)
REJECTED_METRIC: Final = "Rejected"  # lambdas/core/observability.py: REJECTED, by `reason`
# What a human must look at, per reason, in 5 minutes. `not_found` and `invalid_cursor` are normal
# client noise (graphed, not alarmed). A fleet-wide 403 (say a task role or session naming change)
# shows as `forbidden` within one period.
REJECTION_THRESHOLDS: Final[Mapping[str, int]] = {
    errors.Forbidden.code: 10,
    errors.InvalidInput.code: 10,
    errors.PayloadTooLarge.code: 1,
    errors.Throttled.code: 50,
    errors.Unavailable.code: 5,
    "invalid_event": 1,  # handlers/events.py: an ECS event the store can never hold (dropped)
}
GRAPHED_REASONS: Final = (*REJECTION_THRESHOLDS, errors.NotFound.code, errors.InvalidCursor.code)
# API error rates: percent of requests in 5 minutes, once there are enough requests to mean anything.
API_4XX_RATE_PERCENT: Final = 10
API_5XX_RATE_PERCENT: Final = 1
RATE_MIN_REQUESTS: Final = 20
INDEXER_MAX_ITERATOR_AGE_MS: Final = 60_000  # search and summary lag writes by more than a minute


@dataclass(frozen=True)
class Queues:
    events_dead_letters: sqs.IQueue
    indexer_failures: sqs.IQueue


class TaskBeaconMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Sequence[lambda_.Function],
        indexer: lambda_.Function,
        api: apigw.RestApi,
        table: dynamodb.Table,
        queues: Queues,
        alarm_topic_arn: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        for fn in functions:
            name = fn.node.id
            self._alarm(f"{name}Errors", fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"), 1)
            self._alarm(f"{name}Throttles", fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"), 1)
        requests = api.metric_count(period=FIVE_MINUTES, statistic="Sum")
        rate_4xx = _error_rate("4xx", api.metric_client_error(period=FIVE_MINUTES, statistic="Sum"), requests)
        rate_5xx = _error_rate("5xx", api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"), requests)
        self._alarm("Api4xxRate", rate_4xx, API_4XX_RATE_PERCENT, unit="%")
        self._alarm("Api5xxRate", rate_5xx, API_5XX_RATE_PERCENT, unit="%")
        ddb_throttles = _filled_sum(
            "DynamoDB throttle events",
            {
                "reads": table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                "writes": table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
            },
        )
        self._alarm("TableThrottles", ddb_throttles, 1)
        ddb_errors = _filled_sum(
            "DynamoDB system errors",
            {
                f"op{index}": table.metric(
                    "SystemErrors",
                    dimensions_map={"TableName": table.table_name, "Operation": operation},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                )
                for index, operation in enumerate(DDB_OPERATIONS)
            },
        )
        self._alarm("TableSystemErrors", ddb_errors, 1)
        rejected = {reason: _rejected(reason) for reason in GRAPHED_REASONS}
        for reason, threshold in REJECTION_THRESHOLDS.items():
            self._alarm(f"Rejected-{reason}", rejected[reason], threshold)
        rejected_lines = [metric.with_(label=f"Rejected {reason}") for reason, metric in rejected.items()]
        dlq_depth = queues.events_dead_letters.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm("EventsDeadLetters", dlq_depth, 1)
        failures_depth = queues.indexer_failures.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm("IndexerFailures", failures_depth, 1)
        iterator_age = indexer.metric("IteratorAge", period=FIVE_MINUTES, statistic="Maximum")
        self._alarm("IndexerIteratorAge", iterator_age, INDEXER_MAX_ITERATOR_AGE_MS, unit=" ms")

        if alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(6))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24, height=6)
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
                    requests,
                    api.metric_client_error(period=FIVE_MINUTES, statistic="Sum"),
                    api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
                ],
            ),
            _graph("API 4XX and 5XX rates (%)", [rate_4xx, rate_5xx]),
            _graph("API latency p99", [api.metric_latency(period=FIVE_MINUTES, statistic="p99")]),
        )
        self.dashboard.add_widgets(
            _graph("Rejected by reason", rejected_lines),
            _graph(
                "Rejected, every reason seen",
                [
                    cloudwatch.MathExpression(
                        expression=(
                            f"SEARCH('{{{METRICS_NAMESPACE},reason,service}} "
                            f"MetricName=\"{REJECTED_METRIC}\"', 'Sum', 300)"
                        ),
                        label="",
                        period=FIVE_MINUTES,
                    )
                ],
            ),
            _graph("Indexer iterator age (ms)", [iterator_age]),
        )
        self.dashboard.add_widgets(
            _graph(
                "DynamoDB",
                [
                    table.metric_consumed_read_capacity_units(period=FIVE_MINUTES),
                    table.metric_consumed_write_capacity_units(period=FIVE_MINUTES),
                    ddb_throttles,
                    ddb_errors,
                ],
            ),
            _graph("Dead letters and indexer failures", [dlq_depth, failures_depth]),
        )

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float, *, unit: str = "") -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"taskbeacon: {name} (>= {threshold:g}{unit} in 5 minutes)",
            )
        )


def _rejected(reason: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=REJECTED_METRIC,
        dimensions_map={"service": SERVICE_NAME, "reason": reason},
        period=FIVE_MINUTES,
        statistic="Sum",
    )


def _filled_sum(label: str, metrics: Mapping[str, cloudwatch.IMetric]) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({name}, 0)" for name in metrics),
        using_metrics=dict(metrics),
        label=label,
        period=FIVE_MINUTES,
    )


def _error_rate(
    kind: str, errors_metric: cloudwatch.IMetric, requests: cloudwatch.IMetric
) -> cloudwatch.MathExpression:
    # 0 below RATE_MIN_REQUESTS (one failed request of three is no outage); FILL because a period
    # without errors has no error datapoint. Ids are per kind: one graph shows both rates.
    return cloudwatch.MathExpression(
        expression=(
            f"IF(FILL(requests{kind}, 0) >= {RATE_MIN_REQUESTS}, "
            f"100 * FILL(errors{kind}, 0) / FILL(requests{kind}, 1), 0)"
        ),
        using_metrics={f"errors{kind}": errors_metric, f"requests{kind}": requests},
        label=f"API {kind.upper()} %",
        period=FIVE_MINUTES,
    )


def _graph(title: str, metrics: Sequence[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)
