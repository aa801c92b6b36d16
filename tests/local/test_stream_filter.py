"""The indexer mapping's stream filter in local mode: the pattern the stack deploys, matched as Lambda
matches it, applied by local mode's stream pump (dropped records are checkpointed past, never delivered)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from core.store import keys
from core.store.schema import SORT_KEY
from taskbeacon.local.aws.event_pattern import check_pattern, matches
from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.stream_pump import _READ, StreamPump, lambda_record, records_of, streams_client_for
from taskbeacon.local.system import LocalSystem
from tests.local.conftest import create_table

PATTERN = keys.TASK_RECORD_STREAM_FILTER


def _record(event_name: str | None = "INSERT", sort: Any = "TASK", **data: Any) -> dict[str, Any]:
    keys_: dict[str, Any] = {"pk": {"S": "TASK#a"}}
    if sort is not None:
        keys_[SORT_KEY] = sort if isinstance(sort, dict) else {"S": sort}
    return {
        "eventID": "1",
        "eventName": event_name,
        "dynamodb": {"Keys": keys_, "SequenceNumber": "1", **data},
    }


# -- the pattern and the matcher -------------------------------------------------------------------


def test_the_pattern_is_the_task_records_inserts_and_modifies() -> None:
    assert PATTERN == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["TASK"]}}}}
    check_pattern(PATTERN)


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY"])
def test_a_task_record_write_passes(event_name: str) -> None:
    assert matches(PATTERN, _record(event_name))


@pytest.mark.parametrize("event_name", ["REMOVE", "insert", "", None])
def test_other_event_names_are_dropped(event_name: str | None) -> None:
    assert not matches(PATTERN, _record(event_name))


@pytest.mark.parametrize("sort", [keys.SEEN_SK, "2024-05-01T00:00:00Z#abc", "task", "TASK#x", ""])
def test_other_items_are_dropped(sort: str) -> None:
    assert not matches(PATTERN, _record("INSERT", sort))


@pytest.mark.parametrize(
    "record",
    [
        {"dynamodb": {"Keys": {"sk": {"S": "TASK"}}}},  # no eventName
        {"eventName": "INSERT"},  # no dynamodb
        {"eventName": "INSERT", "dynamodb": {}},  # no Keys
        _record("INSERT", None),  # no sort key
        _record("INSERT", {"N": "1"}),  # the sort key of another type
        _record("INSERT", {"S": ["TASK"]}),  # a list where a string is matched
        {"eventName": "INSERT", "dynamodb": "TASK"},  # a leaf where an object is matched
    ],
)
def test_a_record_missing_a_field_of_the_pattern_is_dropped(record: dict[str, Any]) -> None:
    assert not matches(PATTERN, record)


def test_fields_the_pattern_does_not_name_do_not_matter() -> None:
    image = {"pk": {"S": "TASK#a"}, "sk": {"S": "TASK"}, "status": {"S": "RUNNING"}}
    assert matches(PATTERN, _record("MODIFY", NewImage=image, OldImage=image, SizeBytes=3))


def test_the_raw_and_the_lambda_shapes_match_alike() -> None:
    raw = _record("MODIFY", ApproximateCreationDateTime=1.0)
    assert matches(PATTERN, raw)
    assert matches(PATTERN, lambda_record(raw, "arn:stream", "us-east-1", "NEW_AND_OLD_IMAGES"))


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"eventName": "INSERT"},
        {"eventName": []},
        {"eventName": [{"prefix": "IN"}]},
        {"eventName": [{"anything-but": ["REMOVE"]}]},
        {"dynamodb": {"Keys": {"n": {"N": [1]}}}},
        {"dynamodb": {"Keys": {}}},
        {"$or": []},
        {"$or": [{"eventName": "INSERT"}]},
    ],
)
def test_syntax_the_matcher_does_not_have_is_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        check_pattern(pattern)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )
    with pytest.raises(ValueError):  # at once, not at the first record
        StreamPump(client, "any", lambda event, context: None, filter_pattern=pattern)


# -- the pump on the embedded engine ---------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        json.dumps(event)
        self.events.append(event)

    @property
    def records(self) -> list[dict[str, Any]]:
        return records_of(self.events)


@dataclass(frozen=True)
class Table:
    client: Any
    name: str


@pytest.fixture
def table(engine_client: Any) -> Iterator[Table]:
    """A fresh table with a stream on the embedded engine (whose tables outlive one test's client)."""
    name = f"filtered-{uuid.uuid4().hex[:8]}"
    create_table(engine_client, name)
    yield Table(engine_client, name)
    engine_client.delete_table(TableName=name)


def _put(table: Table, pk: str, sk: str, **attributes: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in attributes.items()}}
    table.client.put_item(TableName=table.name, Item=item)


def _write_every_kind(table: Table) -> None:
    """A task record's INSERT, MODIFY and REMOVE, a keepalive item, and two index entries."""
    _put(table, "TASK#a", keys.RECORD_SK, status="PENDING")  # INSERT: delivered
    _put(table, "TASK#a", keys.SEEN_SK, at="1")  # keepalive item: dropped
    _put(table, "IX#all#all#0", "2024#a")  # index entry: dropped
    _put(table, "TASK#a", keys.RECORD_SK, status="RUNNING")  # MODIFY: delivered
    record = {"pk": {"S": "TASK#a"}, "sk": {"S": keys.RECORD_SK}}
    table.client.delete_item(TableName=table.name, Key=record)  # REMOVE: dropped
    _put(table, "IX#all#all#1", "2024#b")  # index entry, last on the stream: dropped


def _delivered(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in records]


def _stream_end(table: Table) -> str:
    """The sequence number of the last record on the (one-shard) stream."""
    pump = StreamPump(table.client, table.name, lambda event, context: None)
    (shard,) = pump._shards_in_order()
    return str(pump._read(shard, advance=False).last_sequence)


def test_a_pump_with_the_filter_delivers_only_the_task_records_writes(table: Table) -> None:
    _write_every_kind(table)
    handler = Recorder()
    pump = StreamPump(table.client, table.name, handler, filter_pattern=PATTERN)
    assert pump.pending() == 2  # the records it will deliver; the others never will be
    result = pump.drain()
    assert _delivered(handler.records) == [("INSERT", "TASK"), ("MODIFY", "TASK")]
    assert (result.read, result.filtered, result.records, result.invocations) == (6, 4, 2, 1)
    assert pump.pending() == 0


def test_a_pump_without_the_filter_delivers_every_record(table: Table) -> None:
    _write_every_kind(table)
    handler = Recorder()
    result = StreamPump(table.client, table.name, handler).drain()
    assert _delivered(handler.records) == [
        ("INSERT", "TASK"),
        ("INSERT", "SEEN"),
        ("INSERT", "2024#a"),
        ("MODIFY", "TASK"),
        ("REMOVE", "TASK"),
        ("INSERT", "2024#b"),
    ]
    assert (result.read, result.filtered, result.records) == (6, 0, 6)


def test_the_checkpoint_moves_past_the_records_the_filter_dropped(table: Table) -> None:
    """A restart from the checkpoint (the pump forgets where it read, as after a failed drain) reads
    nothing again: the dropped records at the end of the stream are checkpointed too."""
    _write_every_kind(table)
    handler = Recorder()
    pump = StreamPump(table.client, table.name, handler, filter_pattern=PATTERN)
    pump.drain()
    (shard,) = pump._checkpoints
    assert pump._checkpoints[shard] == _stream_end(table)
    pump._iterators.clear()  # restart from the checkpoint
    again = pump.drain()
    assert (again.read, again.invocations) == (0, 0)
    assert len(handler.records) == 2


def test_a_read_the_filter_drops_entirely_invokes_nothing_and_is_checkpointed(table: Table) -> None:
    handler = Recorder()
    pump = StreamPump(table.client, table.name, handler, filter_pattern=PATTERN)
    _put(table, "TASK#a", keys.RECORD_SK, status="RUNNING")
    pump.drain()
    for shard in range(3):
        _put(table, f"IX#all#all#{shard}", "2024#a")  # what the indexer writes
    assert pump.pending() == 0
    result = pump.drain()
    assert (result.read, result.filtered, result.records, result.invocations) == (3, 3, 0, 0)
    (shard_id,) = pump._checkpoints
    assert pump._checkpoints[shard_id] == _stream_end(table)
    pump._iterators.clear()
    assert pump.drain().read == 0
    assert _delivered(handler.records) == [("INSERT", "TASK")]


def test_the_runtime_makes_no_further_pass_after_one_that_only_read_dropped_records(
    table: Table,
) -> None:
    """A pass whose records the filter all dropped invoked no indexer, so no write of its can follow:
    the background delivery waits for the next write instead of reading the stream again at once."""
    pump = StreamPump(table.client, table.name, Recorder(), filter_pattern=PATTERN)
    runtime = LambdaRuntime(stream=pump)
    _put(table, "TASK#a", keys.RECORD_SK)
    assert runtime._drain(0, until_quiet=False) is True  # the indexer took a record: its writes may follow
    _put(table, "IX#all#all#0", "2024#a")
    assert runtime._drain(0, until_quiet=False) is False
    runtime.stop()


# -- one pattern: the stack's and local mode's -----------------------------------------------------


def test_local_modes_indexer_pump_applies_the_pattern_the_stack_deploys(table: Table) -> None:
    pump = LocalSystem(table_name=table.name)._stream_pump(table.client.meta.endpoint_url)
    assert pump is not None
    assert pump.filter_pattern is keys.TASK_RECORD_STREAM_FILTER
    _put(table, "TASK#a", keys.SEEN_SK, at="1")
    _put(table, "IX#all#all#0", "2024#a")
    assert pump.pending() == 0


def test_the_dropped_records_are_taken_out_before_botocore_parses_the_answer(table: Table) -> None:
    """Parsing a record's images is most of what reading it costs: the pump's own streams client
    parses only what the filter passes, and every other client still reads the whole stream."""
    _write_every_kind(table)
    pump = StreamPump(table.client, table.name, Recorder(), filter_pattern=PATTERN)
    (shard,) = pump._shards_in_order()

    def answer(streams: Any) -> Any:
        iterator = streams.get_shard_iterator(
            StreamArn=pump.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return streams.get_records(ShardIterator=iterator)

    parsed = answer(pump.streams)
    assert _delivered(parsed["Records"]) == [("INSERT", "TASK"), ("MODIFY", "TASK")]
    assert parsed[_READ] == (6, _stream_end(table))
    other = answer(streams_client_for(table.client))
    assert len(other["Records"]) == 6
    assert _READ not in other


def test_a_filter_refuses_a_streams_client_it_would_share(table: Table) -> None:
    shared = streams_client_for(table.client)
    with pytest.raises(ValueError, match="own streams client"):
        StreamPump(table.client, table.name, Recorder(), streams_client=shared, filter_pattern=PATTERN)
