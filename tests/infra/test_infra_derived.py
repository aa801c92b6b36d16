"""Derived state: the indexer's stream mapping, its failure queue, and the reconciler's schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_synth import Synth

from core.store import keys, schema

pytestmark = pytest.mark.cdk


def _function_id(synth: Synth, handler: str) -> str:
    (fn_id,) = [
        k
        for k, fn in synth.resources("AWS::Lambda::Function").items()
        if fn["Properties"]["Handler"] == handler
    ]
    return fn_id


def _mapping(synth: Synth) -> dict[str, Any]:
    """The indexer's stream mapping (the only event source mapping: the sweep invokes its worker)."""
    (mapping,) = [
        m
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    return dict(mapping["Properties"])


def test_indexer_reads_the_tables_stream_in_batches(any_synth: Synth) -> None:
    props = _mapping(any_synth)
    (table_id,) = any_synth.resources("AWS::DynamoDB::Table")
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert props["FunctionName"] == {"Ref": _function_id(any_synth, "handlers.indexer.handler")}
    assert 100 <= props["BatchSize"] <= 1000
    assert props["MaximumBatchingWindowInSeconds"] == 1
    assert props["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the mapping is lost


def test_indexer_failures_are_partial_bisected_bounded_and_kept(any_synth: Synth) -> None:
    props = _mapping(any_synth)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 20  # bounded: -1 (forever) would stall the shard
    # Records live 24 h in the stream: give up before that, so the batch can still be replayed.
    assert 60 <= props["MaximumRecordAgeInSeconds"] < 24 * 3600
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    queue = any_synth.resources("AWS::SQS::Queue")[queue_id]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["DeletionPolicy"] == "Retain"
    (policy,) = [
        p
        for p in any_synth.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    (tls,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    alarms = [
        a["Properties"]
        for a in any_synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"]["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    ]
    (alarm,) = alarms
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_indexer_only_gets_task_record_changes(any_synth: Synth) -> None:
    (stream_filter,) = _mapping(any_synth)["FilterCriteria"]["Filters"]
    pattern = json.loads(stream_filter["Pattern"])
    # Writes of the task record only: a TTL removal (REMOVE) derives nothing (its entries expire with
    # it), keepalive items share the task's partition but not its sort key, and the indexer's own
    # entries live elsewhere, so the indexer never triggers itself.
    assert pattern == {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"Keys": {schema.SORT_KEY: {"S": [keys.RECORD_SK]}}},
    }
    # Named once: the pattern local mode's stream pump applies (tests/local/test_stream_filter.py).
    assert stream_filter["Pattern"] == json.dumps(keys.TASK_RECORD_STREAM_FILTER, separators=(",", ":"))
    assert keys.RECORD_SK == "TASK" != keys.SEEN_SK


def test_only_the_indexer_reads_the_stream(any_synth: Synth) -> None:
    indexer_role = any_synth.resources("AWS::Lambda::Function")[
        _function_id(any_synth, "handlers.indexer.handler")
    ]["Properties"]["Role"]["Fn::GetAtt"][0]
    readers = set()
    for policy in any_synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"} & set(actions):
                readers.update(ref["Ref"] for ref in policy["Properties"]["Roles"])
    assert readers == {indexer_role}


def test_reconciler_runs_on_a_schedule(default_synth: Synth, full_synth: Synth) -> None:
    for synth_result, hours in ((default_synth, 6), (full_synth, 3)):
        reconciler = _function_id(synth_result, "handlers.reconciler.handler")
        (rule,) = [
            r["Properties"]
            for r in synth_result.resources("AWS::Events::Rule").values()
            if "ScheduleExpression" in r["Properties"]
            and reconciler in json.dumps(r["Properties"]["Targets"])
        ]
        assert rule["ScheduleExpression"] == f"rate({hours} hours)"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [reconciler, "Arn"]}
        assert 0 < target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
        fn = synth_result.resources("AWS::Lambda::Function")[reconciler]["Properties"]
        assert fn["Timeout"] == 900
