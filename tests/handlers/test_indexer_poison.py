"""The indexer handler: a poison record is split out of its batch, then parked by task key.

The real handler (``handlers.indexer.handler``) on a moto table and a moto SQS queue: a batch of
more than one record with a poison record raises (Lambda splits it) after applying everything else;
the poison record alone is parked in the failure queue by its task key and the batch succeeds; when
parking is not possible it is reported failed, so Lambda's retries and on-failure destination take it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from core.environment import FAILURE_QUEUE_ENV
from core.logic.failures import ParkedTask, read_failure
from core.logic.indexer import Indexer, wanted
from core.logic.lease import first_lease
from core.model import Task, TaskRecord, task_identity
from core.store.index import IndexStore
from core.store.records import record_item
from core.store.schema import create_table_request
from core.store.tasks import TaskStore
from handlers import indexer as indexer_handler
from handlers import wiring
from handlers.indexer import PoisonInBatch
from taskbeacon.local.aws.lambda_context import LocalContext
from tests.store.builders import ACCOUNT, T0

TABLE = "indexer-poison"
SOURCE = "arn:aws:dynamodb:us-east-1:111122223333:table/indexer-poison/stream/2026-11-28T00:00:00.000"


class Refusing:
    """The moto client, except that DynamoDB refuses every batch write as invalid."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, **request: Any) -> Any:
        error = {"Error": {"Code": "ValidationException", "Message": "Item size has exceeded the limit"}}
        raise ClientError(error, "BatchWriteItem")  # type: ignore[arg-type]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", FAILURE_QUEUE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    wiring.reset()
    indexer_handler._queue.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**create_table_request(TABLE))
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="indexer-failures")["QueueUrl"]
        state: dict[str, Any] = {"dynamodb": dynamodb, "sqs": sqs, "queue_url": queue_url}
        state["store"] = IndexStore(TABLE, client=dynamodb, sleep=lambda _: None)
        monkeypatch.setattr(
            wiring,
            "indexer",
            lambda: Indexer(
                TaskStore(TABLE, client=state["store"].client, sleep=lambda _: None), state["store"]
            ),
        )
        yield state
    monkeypatch.undo()
    indexer_handler._queue.cache_clear()
    wiring.reset()


def _task(number: int) -> Task:
    task_id = f"{number:032x}"
    return Task(
        task_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task_id}",
        task_id=task_id,
        account_id=ACCOUNT,
        region="us-east-1",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod",
        cluster_name="prod",
        last_status="RUNNING",
        first_seen_at=T0 + timedelta(seconds=number),
    )


def _task_record(number: int, revision: int = 1) -> TaskRecord:
    return TaskRecord(task=_task(number), revision=revision, lease_until=first_lease(T0, 30))


def _record(number: int, sequence: int, *, revision: int = 1, poison: bool = False) -> dict[str, Any]:
    """A stream record as Lambda delivers it: an INSERT/MODIFY of a task record."""
    image = record_item(_identity(number), _task_record(number, revision), [], None)
    if poison:  # a well-formed body whose document is not a task
        image["body"] = {"B": zlib.compress(b'{"doc":{"taskArn":7},"hist":[]}')}
    return {
        "eventID": f"e{sequence}",
        "eventName": "INSERT" if revision == 1 else "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": SOURCE,
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": str(sequence),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def _identity(number: int) -> str:
    return task_identity(_task(number))


def _invoke(*records: dict[str, Any]) -> Any:
    return indexer_handler.handler(
        {"Records": list(records)}, LocalContext(function_name="taskbeacon-indexer")
    )


def _store(aws: dict[str, Any], *numbers: int, revision: int = 1) -> None:
    """The task records as the table holds them (the indexer reads each task's record as it is now)."""
    for number in numbers:
        item = record_item(_identity(number), _task_record(number, revision), [], None)
        aws["dynamodb"].put_item(TableName=TABLE, Item=item)


def _indexed(aws: dict[str, Any], *numbers: int) -> set[str]:
    """The tasks whose stored entries are all those their record wants."""
    store = IndexStore(TABLE, client=aws["dynamodb"])
    found = set()
    for number in numbers:
        want = {ref: item.digest for ref, item in wanted(_task_record(number), _identity(number)).items()}
        if want and store.stored_digests(want) == want:
            found.add(_identity(number))
    return found


def _parked(aws: dict[str, Any]) -> list[ParkedTask]:
    answer = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10)
    found = [read_failure(message["Body"]) for message in answer.get("Messages", [])]
    assert all(isinstance(f, ParkedTask) for f in found)
    return [f for f in found if isinstance(f, ParkedTask)]


def test_a_batch_holding_a_poison_record_is_applied_around_it_then_split(aws: dict[str, Any]) -> None:
    _store(aws, 1, 2, 3)
    with pytest.raises(PoisonInBatch, match=r"1 of 3 records cannot be indexed \(101\)"):
        _invoke(_record(1, 100), _record(2, 101, poison=True), _record(3, 102))
    assert _indexed(aws, 1, 2, 3) == {_identity(1), _identity(3)}
    assert _parked(aws) == []  # not alone yet: Lambda splits the batch first


def test_a_poison_record_alone_is_parked_by_task_key_and_the_batch_succeeds(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"])
    assert _invoke(_record(2, 101, poison=True)) == {"batchItemFailures": []}
    (parked,) = _parked(aws)
    assert parked.identity == _identity(2) and parked.sequence == "101"
    assert parked.reason.startswith("ValidationError")


def test_without_a_failure_queue_the_poison_record_alone_is_reported_failed(aws: dict[str, Any]) -> None:
    # Lambda retries it alone, then sends it (shard and sequence number) to the on-failure destination.
    assert _invoke(_record(2, 101, poison=True)) == {"batchItemFailures": [{"itemIdentifier": "101"}]}


def test_when_parking_fails_the_poison_record_is_reported_failed(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"] + "-deleted")
    assert _invoke(_record(2, 101, poison=True)) == {"batchItemFailures": [{"itemIdentifier": "101"}]}


def test_an_unreadable_record_superseded_in_the_same_batch_is_not_poison(aws: dict[str, Any]) -> None:
    _store(aws, 1, revision=2)
    _store(aws, 2)
    answer = _invoke(_record(1, 100, poison=True), _record(1, 101, revision=2), _record(2, 102))
    assert answer == {"batchItemFailures": []}
    assert _indexed(aws, 1, 2) == {_identity(1), _identity(2)}


def test_an_unreadable_newest_change_is_poison_even_after_a_readable_one(aws: dict[str, Any]) -> None:
    _store(aws, 1, revision=2)
    with pytest.raises(PoisonInBatch):
        _invoke(_record(1, 100), _record(1, 101, revision=2, poison=True))
    # The readable change is applied toward the record as it is now; the unreadable one is parked
    # after the split, and reindex takes its task again.
    assert _indexed(aws, 1) == {_identity(1)}


def test_writes_dynamodb_refuses_split_the_batch_then_park_the_record_alone(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"])
    _store(aws, 1, 2)
    aws["store"] = IndexStore(TABLE, client=Refusing(aws["dynamodb"]), sleep=lambda _: None)
    with pytest.raises(ClientError, match="ValidationException"):
        _invoke(_record(1, 100), _record(2, 101))  # which record is at fault is not known: split
    assert _invoke(_record(2, 101)) == {"batchItemFailures": []}
    (parked,) = _parked(aws)
    assert parked.identity == _identity(2) and "ValidationException" in parked.reason


def test_pushback_is_not_poison(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttling before the batch settled is retried by Lambda, never parked."""
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"])

    class Throttling(Refusing):
        def batch_get_item(self, **request: Any) -> Any:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
            raise ClientError(error, "BatchGetItem")  # type: ignore[arg-type]

    aws["store"] = IndexStore(TABLE, client=Throttling(aws["dynamodb"]), sleep=lambda _: None)
    from core.errors import Throttled

    _store(aws, 1)
    with pytest.raises(Throttled):
        _invoke(_record(1, 100))
    assert _parked(aws) == []


def test_the_parked_message_is_json_naming_the_stream(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"])
    _invoke(_record(2, 101, poison=True))
    answer = aws["sqs"].receive_message(QueueUrl=aws["queue_url"])
    body = json.loads(answer["Messages"][0]["Body"])
    assert body["kind"] == "taskbeacon.indexer.poison" and body["eventSourceARN"] == SOURCE
    assert body["taskKey"] == _identity(2)


def test_a_damaged_compressed_body_is_poison_not_a_crash(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """zlib's error is no ValueError: the stream decoder must still read it as an undecodable record."""
    monkeypatch.setenv(FAILURE_QUEUE_ENV, aws["queue_url"])
    record = _record(2, 101)
    record["dynamodb"]["NewImage"]["body"] = {"B": b"not zlib at all"}
    assert _invoke(record) == {"batchItemFailures": []}
    (parked,) = _parked(aws)
    assert parked.identity == _identity(2) and parked.reason.startswith("ValueError")
