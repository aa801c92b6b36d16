"""Derived state: the indexer on the table's stream, and the reconciler on a schedule.

The request path (ingest, events) writes only a task's own items; everything derived from many
tasks (index entries, summary counters) follows from the stream here. Sizing and the reasons for
each setting are in docs/decisions/infra.md ("Indexer on the table's stream").
"""

from __future__ import annotations

import copy
import math
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from infra.paths import keys
from infra.queues import held_queue

# Lambda's stream poller settings (all asserted in tests/infra/test_infra_template.py).
BATCH_SIZE: Final = 500
BATCHING_WINDOW_SECONDS: Final = 1
# Concurrent batches per shard; records of one item key stay in order (Lambda guarantees it).
PARALLELIZATION_FACTOR: Final = 4
RETRY_ATTEMPTS: Final = 10
# Splits that isolate one record of a full batch (500 -> 250 -> ... -> 1). Lambda's guide does not say
# whether a split uses up a retry attempt; with more attempts than splits, a poison record is alone
# (and parked by the indexer, handlers/indexer.py) before its batch could run out of retries either way.
SPLITS_TO_ISOLATE: Final = math.ceil(math.log2(BATCH_SIZE))
assert RETRY_ATTEMPTS > SPLITS_TO_ISOLATE, "a poison record must be isolated before the retries run out"
# Stream records live 24 h: a batch that has failed this long goes to the failure queue while its
# records can still be read again (the queue message names the shard and sequence numbers).
MAX_RECORD_AGE: Final = cdk.Duration.hours(6)


class IndexerFailureQueue(Construct):
    """Where the stream mapping sends the batches it gave up on (metadata only: shard, sequence range)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = held_queue(self, "Queue", removal_policy=cdk.RemovalPolicy.RETAIN)


class TaskBeaconIndexing(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        indexer: lambda_.Function,
        reconciler: lambda_.Function,
        reconcile_interval_hours: int,
        change_events_bus_arn: str = "",
        change_events_bus_name: str = "TaskBeacon-changes",
    ) -> None:
        super().__init__(scope, construct_id)
        # Imported here: infra.paths (above) has put lambdas/ on sys.path; the module is stdlib only.
        from core.environment import ENV_NAMES, FAILURE_QUEUE_ENV

        # Change events out (docs/events.md): the bus given, or one of the stack's own. Only the
        # indexer may put events on it (events:PutEvents on this bus alone). No alarm metric is added:
        # events that do not land fail the batch, which the indexer's Errors, IteratorAge and failure
        # queue alarms already watch.
        self.change_events_bus: events.IEventBus = (
            events.EventBus.from_event_bus_arn(self, "ChangeEventsBus", change_events_bus_arn)
            if change_events_bus_arn
            else events.EventBus(self, "ChangeEventsBus", event_bus_name=change_events_bus_name)
        )
        self.change_events_bus.grant_put_events_to(indexer)
        indexer.add_environment(ENV_NAMES["change_events_bus"], self.change_events_bus.event_bus_arn)
        bus_output = cdk.CfnOutput(
            self,
            "ChangeEventsBusArnOutput",
            value=self.change_events_bus.event_bus_arn,
            description="taskbeacon change events (docs/events.md): rules match source taskbeacon",
        )
        bus_output.override_logical_id("ChangeEventsBusArn")

        self.failures = IndexerFailureQueue(self, "IndexerFailures").queue
        # The indexer parks an isolated poison record's task key here (taskbeacon reindex reads it).
        indexer.add_environment(FAILURE_QUEUE_ENV, self.failures.queue_url)
        output = cdk.CfnOutput(
            self,
            "FailureQueueUrl",
            value=self.failures.queue_url,
            description="taskbeacon reindex --table <TableName> --failure-queue <this URL>",
        )
        output.override_logical_id("IndexerFailureQueueUrl")
        # Grants the indexer's role stream read (and SendMessage on the failure queue) only.
        indexer.add_event_source(
            sources.DynamoEventSource(
                table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=BATCH_SIZE,
                max_batching_window=cdk.Duration.seconds(BATCHING_WINDOW_SECONDS),
                parallelization_factor=PARALLELIZATION_FACTOR,
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=RETRY_ATTEMPTS,
                max_record_age=MAX_RECORD_AGE,
                on_failure=sources.SqsDlq(self.failures),
                # Only the task record's writes: the pattern local mode's stream pump applies too.
                filters=[lambda_.FilterCriteria.filter(copy.deepcopy(keys.TASK_RECORD_STREAM_FILTER))],
            )
        )
        self.schedule = events.Rule(
            self,
            "ReconcileSchedule",
            description="taskbeacon: recompute the summary counters from the index",
            schedule=events.Schedule.rate(cdk.Duration.hours(reconcile_interval_hours)),
            targets=[
                targets.LambdaFunction(reconciler, retry_attempts=2, max_event_age=cdk.Duration.hours(1))
            ],
        )
