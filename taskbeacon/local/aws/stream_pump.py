"""A table's DynamoDB stream delivered to a handler the way a Lambda event source mapping delivers it.

Local mode (and any test) reads the engine's real stream with ``dynamodbstreams``
(DescribeStream, GetShardIterator, GetRecords), keeps a position per shard, and calls the
indexer handler in-process with events in the exact shape Lambda sends: ``{"Records": [...]}``
with ``eventID``, ``eventName`` (INSERT/MODIFY/REMOVE), ``eventVersion`` "1.1",
``eventSource`` "aws:dynamodb", ``awsRegion``, ``eventSourceARN`` (the stream ARN) and
``dynamodb`` (``ApproximateCreationDateTime`` in epoch seconds, ``Keys``, ``NewImage``,
``OldImage``, ``SequenceNumber``, ``SizeBytes``, ``StreamViewType``).

What it copies from the event source mapping (ReportBatchItemFailures, BisectBatchOnFunctionError):

- batches of at most ``batch_size`` (100) records, in stream order within a shard, parents first;
- a ``batchItemFailures`` answer checkpoints before the lowest failed sequence number and retries
  from it; an empty or unknown ``itemIdentifier`` fails the whole batch; ``None``, ``{}`` or an
  empty list is success;
- a handler that raises fails the whole batch, which is split in two before it is retried;
- retries are bounded (``max_retries``): then the batch goes to ``dead_letters`` (what Lambda
  sends to the on-failure destination) and the shard moves on, or :class:`StreamPumpError` is
  raised (``on_failure="raise"``, the default for tests).

``drain()`` is synchronous and repeats until the stream is quiet, so the handler's own writes
(which are stream records too) are delivered before it returns: reads after writes are
deterministic. ``drain(until_quiet=False)`` makes one pass (local mode's background delivery,
taskbeacon/local/aws/lambda_runtime.py, under writers that never pause). One difference from
DynamoDB is smoothed over: moto writes a MODIFY record for a write that changed nothing, which
DynamoDB does not; such records are dropped (``drop_unchanged``).

``filter_pattern`` is the mapping's ``FilterCriteria`` (one pattern, Lambda's event-filtering syntax as
far as taskbeacon/local/aws/event_pattern.py matches it): records it does not pass are never delivered
and are checkpointed past, as Lambda discards them. They are dropped from GetRecords' answer before
botocore parses it (a ``before-parse`` handler on the pump's own streams client; moto and every other
client see the stream unchanged): parsing a record's two images attribute by attribute is most of
what reading it costs, and most of local mode's stream is the indexer's own index entries.
Local mode's indexer pump applies the deployed one (``core.store.keys.TASK_RECORD_STREAM_FILTER``);
``None`` delivers every record.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from taskbeacon.local.aws.event_pattern import check_pattern, matches

log = logging.getLogger("taskbeacon.local.stream")

Handler = Callable[[dict[str, Any], Any], Any]
OnFailure = Literal["raise", "skip"]

BATCH_SIZE = 100  # Lambda's default batch size for DynamoDB streams (and the largest used here)
EVENT_VERSION = "1.1"
_READ_LIMIT = 1000  # GetRecords' own maximum
_MAX_READS_PER_SHARD = 10_000  # a safety bound on one shard read; far above anything a test writes
_READ = "TaskbeaconRead"  # (records read, last sequence number) of a filtered answer, beside its records
_MAX_PASSES = 50  # handler writes that keep producing records forever are a bug, not a workload


class StreamPumpError(RuntimeError):
    """A batch exhausted its retries (``on_failure="raise"``), or the stream never went quiet."""

    def __init__(self, message: str, dead_letter: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.dead_letter = dead_letter


class _Page(NamedTuple):
    """What one read of a shard gave: the records the filter passed, how many it read in all, and the
    sequence number of the last one read (to checkpoint past the dropped ones too)."""

    records: list[dict[str, Any]]
    read: int
    last_sequence: str | None


@dataclass
class DrainResult:
    records: int = 0  # records delivered and checkpointed (successfully or dead-lettered)
    read: int = 0  # records read from the stream (with those dropped as unchanged or filtered out)
    filtered: int = 0  # of those, the records the filter pattern dropped (never delivered)
    invocations: int = 0
    retries: int = 0
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


class Pump(Protocol):
    """What local mode's runtime, sweep and reindex use of a pump: a ``StreamPump`` here, or the one
    in the indexer's own process (taskbeacon/local/aws/indexer_mapping.py)."""

    on_failure: OnFailure
    dead_letters: list[dict[str, Any]]
    streams: Any

    @property
    def stream_arn(self) -> str: ...

    def drain(self, *, until_quiet: bool = True) -> DrainResult: ...

    def pending(self) -> int: ...


def default_handler(event: dict[str, Any], context: Any) -> Any:
    """The indexer Lambda's handler, imported on first use (local mode sets the environment first)."""
    module = importlib.import_module("handlers.indexer")
    return module.handler(event, context)


def _context() -> Any:
    from taskbeacon.local.aws.lambda_context import LocalContext

    return LocalContext(function_name="taskbeacon-indexer")


class StreamPump:
    """Reads one table's stream and feeds it, in Lambda's event shape, to ``handler``."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        handler: Handler | None = None,
        *,
        streams_client: Any = None,
        region: str | None = None,
        batch_size: int = BATCH_SIZE,
        max_retries: int = 3,
        bisect_on_error: bool = True,
        on_failure: OnFailure = "raise",
        drop_unchanged: bool = True,
        starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON",
        context_factory: Callable[[], Any] = _context,
        filter_pattern: Mapping[str, Any] | None = None,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be 1-10000 (Lambda's range for DynamoDB streams)")
        if filter_pattern is not None:
            check_pattern(filter_pattern)
            if streams_client is not None:
                # The filter takes records out of what the client parses: another user of the same
                # client (a second pump) would lose them.
                raise ValueError("filter_pattern needs the pump's own streams client, not streams_client")
        self.client = client
        self.table_name = table_name
        self.handler: Handler = handler or default_handler
        self.streams = streams_client or streams_client_for(client)
        self.region = region or client.meta.region_name
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.bisect_on_error = bisect_on_error
        self.on_failure = on_failure
        self.drop_unchanged = drop_unchanged
        self.context_factory = context_factory
        self.filter_pattern = filter_pattern
        if filter_pattern is not None:  # on the pump's streams client only: what it parses of GetRecords
            self.streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", self._drop_filtered)
        self.dead_letters: list[dict[str, Any]] = []
        self._stream_arn: str | None = None
        self._stream_view_type = "NEW_AND_OLD_IMAGES"
        self._iterators: dict[str, str | None] = {}  # shard -> iterator to read next; None: shard done
        self._checkpoints: dict[str, str] = {}  # shard -> last sequence number delivered
        self._shard_order: list[str] | None = None
        self._lock = threading.Lock()
        if starting_position == "LATEST":
            self._skip_to_latest()

    @property
    def stream_arn(self) -> str:
        if self._stream_arn is None:
            table = self.client.describe_table(TableName=self.table_name)["Table"]
            arn = table.get("LatestStreamArn")
            if not arn or not (table.get("StreamSpecification") or {}).get("StreamEnabled", False):
                raise StreamPumpError(f"table {self.table_name} has no stream enabled")
            self._stream_arn = str(arn)
            self._stream_view_type = table["StreamSpecification"].get(
                "StreamViewType", self._stream_view_type
            )
        return self._stream_arn

    def drain(self, *, until_quiet: bool = True) -> DrainResult:
        """Deliver every record written so far, and those the handler's own writes produce, then return.

        ``until_quiet=False``: one pass, every shard read to its end as it was when the pass read it
        (a stream that writers keep writing never goes quiet: the background delivery of local mode
        runs pass after pass instead, ``DrainResult.read`` less ``filtered`` saying whether another one
        is due: records the filter dropped reached no handler, so no write of its can follow them).
        """
        result = DrainResult()
        with self._lock:
            for _ in range(_MAX_PASSES if until_quiet else 1):
                delivered = 0
                for shard_id in self._shards_in_order():
                    page = self._read(shard_id)
                    if not page.read:
                        continue
                    result.read += page.read
                    result.filtered += page.read - len(page.records)
                    try:
                        delivered += self._deliver(shard_id, page, result)
                    except BaseException:
                        # Read past but not delivered: the next drain starts again from the checkpoint.
                        self._iterators.pop(shard_id, None)
                        raise
                if not delivered or not until_quiet:
                    return result
            raise StreamPumpError(
                f"stream of {self.table_name} still had new records after {_MAX_PASSES} passes"
            )

    def pending(self) -> int:
        """How many records are on the stream and not yet delivered (reads them; test helper). Records the
        filter pattern drops are never delivered, so they are not counted."""
        with self._lock:
            count = 0
            for shard_id in self._shards_in_order():
                count += len(self._read(shard_id, advance=False).records)
            return count

    # -- reading -------------------------------------------------------------------------------

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards += description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def _shards_in_order(self) -> list[str]:
        """Open and unfinished shards, every parent before its children (as Lambda processes them).

        The list is described again only when a shard closed (its children appear then) or none was
        known yet, so a drain that finds nothing new costs one GetRecords per open shard.
        """
        if self._shard_order is None or any(self._iterators.get(s, "") is None for s in self._shard_order):
            self._shard_order = self._describe_order()
        order = self._shard_order or []
        return [shard_id for shard_id in order if self._iterators.get(shard_id, "") is not None]

    def _describe_order(self) -> list[str] | None:
        shards = self._shards()
        if not shards:
            return None
        known = {shard["ShardId"] for shard in shards}
        ordered: list[str] = []
        placed: set[str] = set()
        remaining = list(shards)
        while remaining:
            progressed = False
            for shard in list(remaining):
                parent = shard.get("ParentShardId")
                if parent is None or parent not in known or parent in placed:
                    ordered.append(shard["ShardId"])
                    placed.add(shard["ShardId"])
                    remaining.remove(shard)
                    progressed = True
            if not progressed:  # a cycle cannot happen on a real stream; keep going anyway
                ordered += [shard["ShardId"] for shard in remaining]
                break
        return [shard_id for shard_id in ordered if self._iterators.get(shard_id, "") is not None]

    def _iterator(self, shard_id: str) -> str:
        iterator = self._iterators.get(shard_id)
        if iterator:
            return iterator
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=checkpoint)
        return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def _read(self, shard_id: str, advance: bool = True) -> _Page:
        """Every record available on the shard after its checkpoint that the filter passes, and how far
        the read went; remembers where reading stopped."""
        records: list[dict[str, Any]] = []
        read, last = 0, None
        iterator: str | None = self._iterator(shard_id)
        for _ in range(_MAX_READS_PER_SHARD):
            assert iterator is not None
            try:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=_READ_LIMIT)
            except self.streams.exceptions.ExpiredIteratorException:
                self._iterators.pop(shard_id, None)
                iterator = self._iterator(shard_id)
                continue
            batch = answer.get("Records", [])
            records += batch
            count, to = answer.get(
                _READ, (len(batch), batch[-1]["dynamodb"]["SequenceNumber"] if batch else None)
            )
            read += count
            last = to or last
            iterator = answer.get("NextShardIterator")
            if iterator is None or not count:
                break
        if advance:
            # None marks a closed shard read to its end; otherwise continue from here next time.
            self._iterators[shard_id] = iterator
        return _Page(records, read, last)

    def _drop_filtered(
        self, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
    ) -> None:
        """botocore ``before-parse`` of GetRecords: the records the filter drops are taken out of the
        answer before it is parsed; how many were read, and the last sequence number, ride along."""
        pattern = self.filter_pattern
        if pattern is None or response_dict.get("status_code") != 200:
            return
        answer = json.loads(response_dict["body"])
        raw = answer.get("Records") or []
        passing = [record for record in raw if matches(pattern, record)]
        customized_response_dict[_READ] = (len(raw), raw[-1]["dynamodb"]["SequenceNumber"] if raw else None)
        if len(passing) < len(raw):
            answer["Records"] = passing
            response_dict["body"] = json.dumps(answer).encode()

    def _skip_to_latest(self) -> None:
        for shard_id in self._shards_in_order():
            last = self._read(shard_id).last_sequence
            if last is not None:
                self._checkpoints[shard_id] = last

    # -- delivering ----------------------------------------------------------------------------

    def _deliver(self, shard_id: str, page: _Page, result: DrainResult) -> int:
        """Deliver a page read in order from one shard (what the filter passed of it), then checkpoint
        past all it read; how many records the filter passed."""
        queue = [
            lambda_record(raw, self.stream_arn, self.region, self._stream_view_type)
            for raw in page.records
            if not (self.drop_unchanged and _unchanged(raw))
        ]
        limit = self.batch_size
        attempts = 0
        while queue:
            batch = queue[:limit]
            failed_at = self._invoke(batch, result)
            if failed_at is None:
                self._checkpoint(shard_id, batch, len(batch), result)
                queue = queue[len(batch) :]
                limit, attempts = self.batch_size, 0
                continue
            index, function_error = failed_at
            if index > 0:  # the records before the first failure are done; retry from it
                self._checkpoint(shard_id, batch, index, result)
                queue = queue[index:]
                attempts = 0
            result.retries += 1
            if function_error and self.bisect_on_error and len(batch) > 1:
                # Split the batch in two and retry the halves: isolates a record the function cannot
                # take without spending the retries of the records around it.
                limit = max(1, len(batch) // 2)
                continue
            attempts += 1
            if attempts > self.max_retries:
                dead = queue[: len(batch) - index]
                queue = queue[len(dead) :]
                limit, attempts = self.batch_size, 0
                self._dead_letter(shard_id, dead, result)
        # Every record read is now delivered, dead-lettered or dropped (filtered out, unchanged): like
        # Lambda, move past the dropped ones too, so a restart from the checkpoint never reads them again.
        if page.last_sequence is not None:
            self._checkpoints[shard_id] = page.last_sequence
        return len(page.records)

    def _invoke(self, batch: list[dict[str, Any]], result: DrainResult) -> tuple[int, bool] | None:
        """None on success, else (index of the first record to retry, whether the function raised)."""
        result.invocations += 1
        try:
            answer = self.handler({"Records": batch}, self.context_factory())
        except Exception:
            log.warning("stream handler raised on a batch of %d records; retrying", len(batch), exc_info=True)
            return 0, True
        return _first_failure(answer, batch)

    def _checkpoint(
        self, shard_id: str, batch: list[dict[str, Any]], count: int, result: DrainResult
    ) -> None:
        if count:
            self._checkpoints[shard_id] = batch[count - 1]["dynamodb"]["SequenceNumber"]
            result.records += count

    def _dead_letter(self, shard_id: str, batch: list[dict[str, Any]], result: DrainResult) -> None:
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        letter = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.max_retries + 1,
            },
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        self._checkpoint(shard_id, batch, len(batch), result)
        self.dead_letters.append(letter)
        result.dead_letters.append(letter)
        message = (
            f"stream batch {first['SequenceNumber']}..{last['SequenceNumber']} of {self.table_name} "
            f"failed {self.max_retries + 1} times; skipped (on-failure destination)"
        )
        if self.on_failure == "raise":
            raise StreamPumpError(message, letter)
        log.error(message)


def _first_failure(answer: Any, batch: list[dict[str, Any]]) -> tuple[int, bool] | None:
    """Lambda's reading of a partial batch response."""
    if not answer:
        return None
    if not isinstance(answer, dict):
        return None  # a function that answers something else is treated as a success, as Lambda does
    failures = answer.get("batchItemFailures")
    if not failures:
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
    indexes: list[int] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0, False  # empty, null or unknown identifier: the whole batch failed
        indexes.append(positions[identifier])
    return min(indexes), False


def _unchanged(raw: dict[str, Any]) -> bool:
    data = raw.get("dynamodb", {})
    return (
        raw.get("eventName") == "MODIFY"
        and "NewImage" in data
        and data.get("NewImage") == data.get("OldImage")
    )


def lambda_record(raw: dict[str, Any], stream_arn: str, region: str, view_type: str) -> dict[str, Any]:
    """One GetRecords record (as boto3 parses it) in the shape Lambda puts in ``event["Records"]``."""
    data = raw.get("dynamodb", {})
    out: dict[str, Any] = {}
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        out["ApproximateCreationDateTime"] = int(created.timestamp())
    elif created is not None:
        out["ApproximateCreationDateTime"] = int(float(created))
    for name in ("Keys", "NewImage", "OldImage"):
        if name in data:
            out[name] = _json_image(data[name])
    out["SequenceNumber"] = data["SequenceNumber"]
    out["SizeBytes"] = data.get("SizeBytes", _approximate_size(out))
    out["StreamViewType"] = data.get("StreamViewType", view_type)
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
    }
    identity = raw.get("userIdentity")
    if identity:  # TTL deletions: {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        record["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    record["dynamodb"] = out
    record["eventSourceARN"] = stream_arn
    return record


def _json_image(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in image.items()}


def _json_value(value: dict[str, Any]) -> dict[str, Any]:
    """boto3 hands binary values over as bytes; Lambda's JSON event carries them base64-encoded."""
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(item) for item in inner]}
    if kind == "M":
        return {"M": _json_image(inner)}
    if kind == "L":
        return {"L": [_json_value(item) for item in inner]}
    return {kind: inner}


def _b64(value: Any) -> str:
    if isinstance(value, str):
        return value
    return base64.b64encode(bytes(value)).decode()


def _approximate_size(data: dict[str, Any]) -> int:
    import json

    return sum(len(json.dumps(data.get(name, {}))) for name in ("Keys", "NewImage", "OldImage"))


def streams_client_for(client: Any) -> Any:
    """A ``dynamodbstreams`` client on the same engine, region and credentials as ``client``."""
    import boto3
    from botocore.config import Config

    endpoint = client.meta.endpoint_url
    kwargs: dict[str, Any] = {"region_name": client.meta.region_name}
    if endpoint and "amazonaws.com" not in endpoint:
        kwargs["endpoint_url"] = endpoint  # moto's server and DynamoDB Local serve streams on the same port
    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        kwargs.update(
            aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key,
            aws_session_token=frozen.token,
        )
    # Account-based stream endpoints ("<account>.streams-ddb...") are unknown to moto's in-memory mock.
    return boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"), **kwargs)


_PUMPS: weakref.WeakKeyDictionary[Any, dict[str, StreamPump]] = weakref.WeakKeyDictionary()


def pump_for(client: Any, table_name: str, handler: Handler | None = None, **options: Any) -> StreamPump:
    """The pump of this client's table, created on first use, so positions carry over between drains."""
    pumps = _PUMPS.setdefault(client, {})
    pump = pumps.get(table_name)
    if pump is None:
        pump = pumps[table_name] = StreamPump(client, table_name, handler, **options)
    elif handler is not None:
        pump.handler = handler
    return pump


def drain(client: Any, table_name: str, handler: Handler | None = None, **options: Any) -> DrainResult:
    """Deliver every new record of ``table_name``'s stream to ``handler`` (default: the indexer).

    Works on any engine ``client`` talks to: moto's in-memory ``mock_aws``, moto's server,
    DynamoDB Local, a real table. Positions are kept per client and table between calls.
    """
    return pump_for(client, table_name, handler, **options).drain()


def records_of(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """All records of the events a handler was given, in delivery order (test helper)."""
    return [record for event in events for record in event["Records"]]
