"""The benchmark's recording client counts what it sees: calls, items, DynamoDB sizes, capacity units.

Expected values are worked out by hand from DynamoDB's sizing rules (attribute name bytes + value
bytes; numbers about one byte per two significant digits plus one; maps and lists 3 bytes plus
one per element), write units ceil(size / 1 KB), x2 in a transaction, reads in 4 KB units.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from benchmarks.store import RecordingClient, item_size, number_size, summarize, value_size

TABLE = "tasks"


def _item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in attributes.items()}}


def test_sizes_follow_dynamodb_rules() -> None:
    assert item_size(_item("a", "b", x="y" * 2000)) == 2 + 1 + 2 + 1 + 1 + 2000
    assert number_size("5") == 2
    assert number_size("12345") == 4
    assert number_size("100") == 2  # trailing zeros trimmed
    assert number_size("-0.00100") == 2
    assert value_size({"M": {"ab": {"S": "xyz"}}}) == 3 + (2 + 3 + 1)
    assert value_size({"L": [{"N": "12345"}, {"BOOL": True}]}) == 3 + (4 + 1) + (1 + 1)


def test_writes_are_counted_with_their_units(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb)
    client.put_item(TableName=TABLE, Item=_item("a", "b", x="y" * 2000))  # 2007 B: 2 units
    client.put_item(TableName=TABLE, Item=_item("a", "b", x="short"))  # billed on the larger old item
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "c"}, "sk": {"S": "d"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "5"}},
    )  # pk c, sk d, n 5: 2+1+2+1+1+2 = 9 B: 1 unit
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": _item("t", "1", v="x" * 1100)}},  # 1109 B: 2 units x2
            {"Put": {"TableName": TABLE, "Item": _item("t", "2")}},  # 1 unit x2
        ]
    )
    client.batch_write_item(
        RequestItems={TABLE: [{"PutRequest": {"Item": _item("b", str(n))}} for n in range(3)]}
    )
    calls = client.take()
    assert [call.operation for call in calls] == [
        "PutItem",
        "PutItem",
        "UpdateItem",
        "TransactWriteItems",
        "BatchWriteItem",
    ]
    assert [call.write_units for call in calls] == [2, 2, 1, 6, 3]
    assert [call.items_written for call in calls] == [1, 1, 1, 2, 3]
    assert calls[3].transactional_items == 2
    assert calls[1].item_sizes == [2007]
    totals = summarize(calls)
    assert totals["write_calls"] == 5
    assert totals["items_written"] == 8
    assert totals["transactional_items"] == 2
    assert totals["write_units"] == 14
    assert totals["read_calls"] == 0
    assert client.take() == []


def test_reads_are_counted_in_4kb_units(dynamodb: Any) -> None:
    for n in range(3):
        dynamodb.put_item(
            TableName=TABLE, Item=_item("q", str(n), x="z" * 1993)
        )  # 3 + 3 + 1 + 1993 = 2000 B each
    client = RecordingClient(dynamodb)
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "q"}},
        ConsistentRead=True,
    )  # 6000 B: 2 units
    client.query(
        TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}}
    )  # eventually consistent: 1
    client.get_item(TableName=TABLE, Key={"pk": {"S": "nope"}, "sk": {"S": "x"}})  # missing: 0.5
    client.batch_get_item(
        RequestItems={
            TABLE: {
                "Keys": [{"pk": {"S": "q"}, "sk": {"S": "0"}}, {"pk": {"S": "q"}, "sk": {"S": "9"}}],
                "ConsistentRead": True,
            }
        }
    )  # one found (1 unit), one missing (still 1)
    calls = client.take()
    assert [call.read_units for call in calls] == [2.0, 1.0, 0.5, 2.0]
    assert [call.items_read for call in calls] == [3, 3, 0, 1]
    assert calls[0].bytes_read == 6000
    totals = summarize(calls)
    assert totals["read_calls"] == 4 and totals["items_read"] == 7 and totals["read_units"] == 5.5
    assert totals["write_calls"] == 0


def test_a_failed_conditional_write_is_recorded_and_raised(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb)
    client.put_item(TableName=TABLE, Item=_item("a", "b"))
    with pytest.raises(ClientError):
        client.put_item(TableName=TABLE, Item=_item("a", "b"), ConditionExpression="attribute_not_exists(pk)")
    first, failed = client.take()
    assert not first.failed and failed.failed
    assert failed.write_units == 1  # DynamoDB bills a failed condition check as a write


def test_phases_label_calls(dynamodb: Any) -> None:
    client = RecordingClient(dynamodb)
    with client.phase_of("indexer"):
        client.put_item(TableName=TABLE, Item=_item("a", "b"))
    client.get_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert [call.phase for call in client.take()] == ["indexer", "request"]
