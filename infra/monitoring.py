"""Alarms on what needs a human, within a fixed cost of $1.50 a month at defaults; a dashboard on request.

CloudWatch bills each metric an alarm evaluates ($0.10 a month, every operand of a metric-math
alarm included), so merging alarms saves nothing: what counts is the number of metrics watched.
Each alarm here watches a signal that nothing else already raises (docs/cost.md "Fixed cost"):
- Errors of the functions no caller sees fail: events, indexer, reconciler. Ingest and query errors
  are API 5xx, alarmed below, so they are not watched twice;
  Lambda throttles surface as API 5xx, as the events dead letters, or as the indexer's age.
- API 5xx (count) and API 4xx (rate of requests; a fleet-wide IAM 403 shows there).
- Rejected, the one custom metric: requests and events the handlers refused that need a human.
- The events dead letters (which also hold failed async runs of the events function and of the
  sweep's planner, and the sweep worker's failed units: its on-failure destination, after Lambda's
  retries, whether it raised or timed out), the indexer's failure queue and its iterator age.
- Agent image pulls that stopped a task (`CannotPullContainerError`, infra/agent_pull_failures.py).
DynamoDB throttles and system errors are not watched on their own: on the request path they come
back as 503s (Rejected, API 5xx), in the indexer as its age and failures.

Every alarm on a sum of sparse metrics fills each operand's missing datapoints with 0 (`FILL`):
CloudWatch emits no datapoint for a period without events, and an expression with one empty
operand is empty, so without FILL such an alarm could never fire.
"""

from __future__ import annotations

from collections.abc import Sequence
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

from infra.paths import environment

FIVE_MINUTES: Final = cdk.Duration.minutes(5)
REJECTED_METRIC: Final = "Rejected"  # lambdas/core/observability.py: REJECTED
# Refused requests and events in 5 minutes that need a human (the reasons are in the log lines).
REJECTED_THRESHOLD: Final = 10
# API error rates: percent of requests in 5 minutes, once there are enough requests to mean anything.
API_4XX_RATE_PERCENT: Final = 10
RATE_MIN_REQUESTS: Final = 20
API_5XX_COUNT: Final = 5  # a 5xx is a bug; a handful in 5 minutes is an outage, not a cold start
INDEXER_MAX_ITERATOR_AGE_MS: Final = 60_000  # search and summary lag writes by more than a minute
# The goal at defaults (DESIGN section 6) and CloudWatch's list prices it is counted in.
FIXED_COST_GOAL_USD: Final = 1.50
ALARM_METRIC_USD: Final = 0.10
CUSTOM_METRIC_USD: Final = 0.30
CUSTOM_METRICS: Final = 1  # Rejected{service}


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
        background_functions: Sequence[lambda_.Function],
        indexer: lambda_.Function,
        api: apigw.RestApi,
        table: dynamodb.Table,
        queues: Queues,
        pull_failures: cloudwatch.IMetric | None = None,
        alarm_topic_arn: str = "",
        dashboard: bool = False,
        all_functions: Sequence[lambda_.Function] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: list[cloudwatch.Alarm] = []
        for fn in background_functions:
            self._alarm(f"{fn.node.id}Errors", fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"), 1)
        requests = api.metric_count(period=FIVE_MINUTES, statistic="Sum")
        server_errors = api.metric_server_error(period=FIVE_MINUTES, statistic="Sum")
        rate_4xx = _error_rate("4xx", api.metric_client_error(period=FIVE_MINUTES, statistic="Sum"), requests)
        self._alarm("Api5xx", server_errors, API_5XX_COUNT)
        self._alarm("Api4xxRate", rate_4xx, API_4XX_RATE_PERCENT, unit="%")
        rejected = cloudwatch.Metric(
            namespace=environment.NAMESPACE,
            metric_name=REJECTED_METRIC,
            dimensions_map={"service": environment.SERVICE},
            period=FIVE_MINUTES,
            statistic="Sum",
        )
        self._alarm("Rejected", rejected, REJECTED_THRESHOLD)
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
        if pull_failures is not None:
            self._alarm("AgentImagePullFailures", pull_failures, 1)

        if alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))

        # A dashboard is $3 a month: opt-in (taskbeacon:dashboard). Its graphs are free metrics.
        self.dashboard: cloudwatch.Dashboard | None = None
        if not dashboard:
            return
        functions = list(all_functions) or list(background_functions)
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
                [requests, api.metric_client_error(period=FIVE_MINUTES, statistic="Sum"), server_errors],
            ),
            _graph("API 4XX rate (%)", [rate_4xx]),
            _graph("API latency p99", [api.metric_latency(period=FIVE_MINUTES, statistic="p99")]),
        )
        self.dashboard.add_widgets(
            _graph("Rejected (reasons: the handlers' 'request rejected' log lines)", [rejected]),
            _graph("Indexer iterator age (ms)", [iterator_age]),
            _graph(
                "Dead letters and indexer failures",
                [dlq_depth, failures_depth],
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "DynamoDB",
                [
                    table.metric_consumed_read_capacity_units(period=FIVE_MINUTES),
                    table.metric_consumed_write_capacity_units(period=FIVE_MINUTES),
                    table.metric("ReadThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                    table.metric("WriteThrottleEvents", period=FIVE_MINUTES, statistic="Sum"),
                ],
            ),
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
