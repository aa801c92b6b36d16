"""The stream pump: the table's real stream, delivered in Lambda's event shape, on every engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskbeacon.local.aws.stream_pump import (
    BATCH_SIZE,
    StreamPump,
    StreamPumpError,
    lambda_record,
    records_of,
)
from tests.engines import EngineTable

RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}


class Recorder:
    """A stream handler that keeps every event; ``fail`` decides each batch's partial failures."""

    def __init__(self, fail: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        json.dumps(event)  # Lambda hands the function JSON: the event must survive it
        self.events.append(event)
        failed = self.fail(event["Records"]) if self.fail else []
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}

    @property
    def records(self) -> list[dict[str, Any]]:
        return records_of(self.events)


def _put(engine: EngineTable, key: str, **attributes: str) -> None:
    item = {"pk": {"S": key}, "sk": {"S": "R"}, **{name: {"S": value} for name, value in attributes.items()}}
    engine.client.put_item(TableName=engine.table_name, Item=item)


def _sequences(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in records]


def test_records_have_the_shape_lambda_delivers(engine: EngineTable) -> None:
    handler = Recorder()
    _put(engine, "TASK#1", status="RUNNING")
    engine.client.put_item(
        TableName=engine.table_name,
        Item={
            "pk": {"S": "TASK#2"},
            "sk": {"S": "R"},
            "blob": {"B": b"\x00\x01"},
            "m": {"M": {"b": {"B": b"A"}}},
        },
    )
    result = engine.drain(handler)
    assert result.records == 2 and result.invocations == 1
    stream_arn = engine.client.describe_table(TableName=engine.table_name)["Table"]["LatestStreamArn"]
    for record in handler.records:
        assert set(record) == RECORD_KEYS
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert record["eventSourceARN"] == stream_arn
        assert record["eventName"] == "INSERT"
        data = record["dynamodb"]
        assert set(data) == {
            "ApproximateCreationDateTime",
            "Keys",
            "NewImage",
            "SequenceNumber",
            "SizeBytes",
            "StreamViewType",
        }
        assert (
            isinstance(data["ApproximateCreationDateTime"], int)
            and data["ApproximateCreationDateTime"] > 1.7e9
        )
        assert isinstance(data["SequenceNumber"], str) and isinstance(data["SizeBytes"], int)
        assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert data["Keys"] == {"pk": data["NewImage"]["pk"], "sk": data["NewImage"]["sk"]}
    binary = handler.records[1]["dynamodb"]["NewImage"]
    assert binary["blob"] == {"B": "AAE="} and binary["m"] == {
        "M": {"b": {"B": "QQ=="}}
    }  # base64, as in JSON


def test_insert_modify_remove_carry_old_and_new_images_in_write_order(engine: EngineTable) -> None:
    handler = Recorder()
    _put(engine, "TASK#1", status="PENDING")
    _put(engine, "TASK#1", status="RUNNING")
    _put(engine, "TASK#2", status="RUNNING")
    engine.client.delete_item(TableName=engine.table_name, Key={"pk": {"S": "TASK#1"}, "sk": {"S": "R"}})
    engine.drain(handler)
    shown = [
        (
            r["eventName"],
            r["dynamodb"]["Keys"]["pk"]["S"],
            r["dynamodb"].get("OldImage", {}).get("status", {}).get("S"),
            r["dynamodb"].get("NewImage", {}).get("status", {}).get("S"),
        )
        for r in handler.records
    ]
    assert shown == [
        ("INSERT", "TASK#1", None, "PENDING"),
        ("MODIFY", "TASK#1", "PENDING", "RUNNING"),
        ("INSERT", "TASK#2", None, "RUNNING"),
        ("REMOVE", "TASK#1", "RUNNING", None),
    ]
    remove = handler.records[-1]["dynamodb"]
    assert "NewImage" not in remove and remove["OldImage"]["pk"] == {"S": "TASK#1"}
    sequences = [int(s) for s in _sequences(handler.records)]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4


def test_batches_hold_at_most_100_records_and_each_record_comes_once(engine: EngineTable) -> None:
    handler = Recorder()
    for number in range(250):
        _put(engine, f"TASK#{number:03d}")
    result = engine.drain(handler)
    assert [len(event["Records"]) for event in handler.events] == [BATCH_SIZE, BATCH_SIZE, 50]
    assert result.records == 250
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records] == [
        f"TASK#{n:03d}" for n in range(250)
    ]
    assert engine.drain(handler).records == 0  # nothing new: nothing delivered again
    _put(engine, "TASK#new")
    assert engine.drain(handler).records == 1
    assert handler.records[-1]["dynamodb"]["Keys"]["pk"]["S"] == "TASK#new"


def test_a_partial_batch_response_retries_from_the_first_failed_record(engine: EngineTable) -> None:
    for number in range(10):
        _put(engine, f"TASK#{number}")
    failures = {"TASK#4": 1, "TASK#7": 3}  # how often each record is reported failed before it lands

    def fail(records: list[dict[str, Any]]) -> list[str]:
        failed = []
        for record in records:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            if failures.get(key, 0) > 0:
                failures[key] -= 1
                failed.append(record["dynamodb"]["SequenceNumber"])
        return failed

    handler = Recorder(fail)
    result = engine.drain(handler)
    firsts = [event["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] for event in handler.events]
    # 0-9 fails at 4 (and 7): resume at 4; 4-9 fails at 7; 7-9 fails again; then 7-9 lands.
    assert firsts == ["TASK#0", "TASK#4", "TASK#7", "TASK#7"]
    assert result.records == 10 and result.retries == 3 and not result.dead_letters
    assert engine.drain(handler).records == 0


def test_an_unknown_or_empty_item_identifier_fails_the_whole_batch(engine: EngineTable) -> None:
    for number in range(3):
        _put(engine, f"TASK#{number}")
    answers = iter(
        [{"batchItemFailures": [{"itemIdentifier": ""}]}, {"batchItemFailures": [{"itemIdentifier": "x"}]}]
    )
    seen: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> Any:
        seen.append(len(event["Records"]))
        return next(answers, None)  # then None: success

    assert engine.drain(handler).records == 3
    assert seen == [3, 3, 3]


def test_a_raising_handler_is_bisected_down_to_the_poison_record_then_dead_lettered(
    engine: EngineTable,
) -> None:
    for number in range(8):
        _put(engine, f"TASK#{number}")
    sizes: list[int] = []
    landed: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        sizes.append(len(keys))
        if "TASK#5" in keys:
            raise RuntimeError("poison")
        landed.extend(keys)

    pump = engine.pump(handler, max_retries=2, on_failure="skip")
    result = pump.drain()
    assert sizes[:4] == [8, 4, 4, 2]  # 8 fails, 0-3 lands, 4-7 fails, 4-5 fails ...
    assert landed == [f"TASK#{n}" for n in range(8) if n != 5]
    assert len(result.dead_letters) == 1 and result.records == 8
    info = result.dead_letters[0]["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == pump.stream_arn
    assert sizes.count(1) == 1 + 3  # TASK#4 alone once, TASK#5 alone three times (1 + 2 retries)


def test_exhausted_retries_raise_by_default_and_the_next_drain_goes_on(engine: EngineTable) -> None:
    _put(engine, "TASK#bad")
    _put(engine, "TASK#good")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        bad = [r for r in event["Records"] if r["dynamodb"]["Keys"]["pk"]["S"] == "TASK#bad"]
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in bad]}

    pump = engine.pump(handler, max_retries=1)
    with pytest.raises(StreamPumpError) as raised:
        pump.drain()
    assert raised.value.dead_letter is not None
    assert raised.value.dead_letter["DDBStreamBatchInfo"]["batchSize"] == 2
    assert pump.drain().records == 0  # the dead batch is behind the checkpoint
    assert len(pump.dead_letters) == 1


def test_records_the_handler_writes_are_delivered_before_drain_returns(engine: EngineTable) -> None:
    """The indexer writes to its own table: drain() goes on until the stream is quiet."""
    delivered: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            delivered.append(key)
            if key.startswith("TASK#"):
                _put(engine, "IDX#" + key)

    _put(engine, "TASK#1")
    result = engine.drain(handler)
    assert delivered == ["TASK#1", "IDX#TASK#1"]
    assert result.invocations == 2


def test_a_write_that_changes_nothing_makes_no_record(engine: EngineTable) -> None:
    """DynamoDB writes no record for an unchanged item; moto does, and the pump drops it."""
    handler = Recorder()
    _put(engine, "TASK#1", status="RUNNING")
    _put(engine, "TASK#1", status="RUNNING")
    engine.drain(handler)
    assert [r["eventName"] for r in handler.records] == ["INSERT"]


def test_latest_starts_after_what_is_on_the_stream(engine: EngineTable) -> None:
    _put(engine, "TASK#old")
    handler = Recorder()
    pump = StreamPump(engine.client, engine.table_name, handler, starting_position="LATEST")
    _put(engine, "TASK#new")
    pump.drain()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records] == ["TASK#new"]


def test_the_default_handler_is_the_indexer_lambda(
    engine: EngineTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handlers import indexer

    calls: list[tuple[dict[str, Any], Any]] = []
    monkeypatch.setattr(indexer, "handler", lambda event, context: calls.append((event, context)))
    _put(engine, "TASK#1")
    StreamPump(engine.client, engine.table_name).drain()
    assert len(calls) == 1
    event, context = calls[0]
    assert event["Records"][0]["eventName"] == "INSERT"
    assert context.function_name == "taskbeacon-indexer" and context.get_remaining_time_in_millis() > 0


def test_a_table_without_a_stream_is_refused(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName="plain",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    with pytest.raises(StreamPumpError, match="no stream"):
        StreamPump(dynamodb, "plain", Recorder()).drain()


def test_lambda_record_converts_what_boto3_parsed() -> None:
    from datetime import UTC, datetime

    raw = {
        "eventID": "e1",
        "eventName": "REMOVE",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 28, 9, 14, 3, 500000, tzinfo=UTC),
            "Keys": {"pk": {"S": "a"}},
            "OldImage": {"pk": {"S": "a"}, "bs": {"BS": [b"\x01", b"\x02"]}, "l": {"L": [{"B": b"\x03"}]}},
            "SequenceNumber": "42",
        },
    }
    record = lambda_record(raw, "arn:stream", "eu-west-1", "NEW_AND_OLD_IMAGES")
    assert record["eventVersion"] == "1.1" and record["awsRegion"] == "eu-west-1"
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    data = record["dynamodb"]
    assert data["ApproximateCreationDateTime"] == int(
        datetime(2026, 11, 28, 9, 14, 3, tzinfo=UTC).timestamp()
    )
    assert data["OldImage"]["bs"] == {"BS": ["AQ==", "Ag=="]} and data["OldImage"]["l"] == {
        "L": [{"B": "Aw=="}]
    }
    assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES" and data["SizeBytes"] > 0
    assert list(record) == [
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "userIdentity",
        "dynamodb",
        "eventSourceARN",
    ]
