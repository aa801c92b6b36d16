"""The embedded moto engine keeps a bounded amount per request (issue 15): shard iterators and read
stream records are dropped, nothing unread is, and a transaction writes all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taskbeacon.local.aws import engine_bounds
from taskbeacon.local.aws.stream_pump import StreamPump
from tests.local.conftest import create_table

TABLE = "bounds"


@pytest.fixture
def client(engine_client: Any) -> Iterator[Any]:
    create_table(engine_client, TABLE)
    yield engine_client
    engine_client.delete_table(TableName=TABLE)


def _put(client: Any, pk: str, sk: str, value: str = "v") -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": sk}, "value": {"S": value}})


def test_the_engine_keeps_no_record_per_request(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_bounds, "MAX_ITERATORS", 20)
    monkeypatch.setattr(engine_bounds, "KEEP_READ_RECORDS", 10)
    delivered: list[dict[str, Any]] = []
    pump = StreamPump(client, TABLE, lambda event, _: delivered.extend(event["Records"]))
    for number in range(150):
        _put(client, f"task-{number % 7}", f"item-{number}")
        pump.drain()
    kept = engine_bounds.kept(TABLE)  # other tests' tables in this process keep their own
    assert kept["shardIterators"] <= 20
    assert kept["streamRecords"] <= 2 * 10 + 1
    assert len(delivered) == 150  # every record was delivered before it was trimmed

    from moto.moto_api import recorder

    assert not recorder._user_enabled


def test_records_nobody_read_are_never_trimmed(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_bounds, "KEEP_READ_RECORDS", 10)
    for number in range(60):
        _put(client, "task", f"item-{number}")
    delivered: list[dict[str, Any]] = []
    StreamPump(client, TABLE, lambda event, _: delivered.extend(event["Records"])).drain()
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in delivered] == [f"item-{n}" for n in range(60)]


def test_a_partition_query_reads_that_partition_in_range_key_order(client: Any) -> None:
    for pk, sk in [("b", "2"), ("a", "9"), ("b", "1"), ("c", "1"), ("b", "3")]:
        _put(client, pk, sk)
    found = client.query(
        TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "b"}}
    )["Items"]
    assert [item["sk"]["S"] for item in found] == ["1", "2", "3"]
    assert client.scan(TableName=TABLE)["Count"] == 5  # a scan still sees every partition


def test_a_transaction_writes_all_or_nothing(client: Any) -> None:
    _put(client, "a", "1", "old")
    with pytest.raises(client.exceptions.TransactionCanceledException) as refused:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "value": {"S": "new"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    reasons = refused.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["value"] == {"S": "old"}
    assert client.scan(TableName=TABLE)["Count"] == 1  # the first put did not happen
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET #v = :v",
                    "ConditionExpression": "#v = :old",
                    "ExpressionAttributeNames": {"#v": "value"},
                    "ExpressionAttributeValues": {":v": {"S": "new"}, ":old": {"S": "old"}},
                }
            },
        ]
    )
    items = client.query(
        TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}
    )["Items"]
    assert [(item["sk"]["S"], item.get("value", {}).get("S")) for item in items] == [
        ("1", "new"),
        ("2", None),
    ]
