"""moto's item answers written with ``json.dumps`` say what moto's own serializer says.

Every answer of an item operation is made both ways on the same result (moto's serializer first,
then the JSON answer local mode sends), and the two are compared parsed: status, content type and
document. Items are drawn with every attribute type DynamoDB has, nested, and every item operation
the handlers use is played on them, with the options that change an answer's shape (old and new
values, projections, pages, consumed capacity, unprocessed keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskbeacon.local.aws import moto_json_answers
from tests.local.conftest import create_table

Answer = tuple[str, Any, Any, bool]  # (operation, moto's answer, local mode's, whether it was JSON)


@pytest.fixture
def answers(engine_client: Any) -> Iterator[list[Answer]]:
    """Both answers of every item operation called while the fixture is up."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    installed = DynamoHandler.serialized
    original = moto_json_answers.originals["serialized"]
    seen: list[Answer] = []

    def both(self: Any, action_result: Any) -> Any:
        theirs = original(self, action_result)
        ours = installed(self, action_result)
        operation = self._get_action()
        fast = moto_json_answers.answered_as_json(operation, action_result, (ActionResult, DynamoResult))
        seen.append((operation, theirs, ours, fast))
        return ours

    DynamoHandler.serialized = both  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        DynamoHandler.serialized = installed  # type: ignore[method-assign]


def _parsed(answer: Any) -> tuple[int, str, Any]:
    status, headers, body = answer
    return status, headers.get("Content-Type"), json.loads(body)


def _compare(seen: list[Answer]) -> set[str]:
    """Asserts each pair is the same; returns the item operations answered the fast way."""
    fast: set[str] = set()
    for operation, theirs, ours, as_json in seen:
        assert _parsed(ours) == _parsed(theirs), operation
        if as_json:
            fast.add(operation)
    return fast


_names = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
_text = st.text(max_size=8)
_number = st.integers(-(10**12), 10**12).map(str) | st.decimals(
    allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000
).map(lambda d: str(d.normalize()) if d != 0 else "0")
_bytes = st.binary(min_size=1, max_size=12)
_scalar = st.one_of(
    _text.map(lambda s: {"S": s}),
    _number.map(lambda n: {"N": n}),
    _bytes.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(st.integers(0, 99).map(str), min_size=1, max_size=3).map(lambda s: {"NS": sorted(s)}),
    st.sets(_bytes, min_size=1, max_size=3).map(lambda s: {"BS": sorted(s)}),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(_names, inner, max_size=3).map(lambda m: {"M": m}),
    ),
    max_leaves=8,
)
_attributes = st.dictionaries(_names.map(lambda n: f"a_{n}"), _value, max_size=5)


def _item(pk: str, sk: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **attributes}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_attributes, min_size=3, max_size=5))
def test_every_item_answer_is_the_serializers(engine_client: Any, answers: list[Answer], items: Any) -> None:
    client = engine_client
    table = f"answers-{len(answers)}"
    create_table(client, table)
    keys = [{"pk": {"S": "p"}, "sk": {"S": f"s{n}"}} for n in range(len(items))]
    for key, attributes in zip(keys, items, strict=True):
        client.put_item(TableName=table, Item={**key, **attributes}, ReturnConsumedCapacity="TOTAL")
    client.put_item(TableName=table, Item={**keys[0], **items[1]}, ReturnValues="ALL_OLD")
    client.put_item(TableName=table, Item=_item("new", "new", items[0]), ReturnValues="ALL_OLD")
    client.get_item(TableName=table, Key=keys[1])
    client.get_item(TableName=table, Key={"pk": {"S": "none"}, "sk": {"S": "none"}})
    client.get_item(TableName=table, Key=keys[2], ProjectionExpression="pk, sk", ConsistentRead=True)
    page = client.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Limit=2,
        ReturnConsumedCapacity="INDEXES",
    )
    client.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    client.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Select="COUNT",
    )
    client.scan(TableName=table, Limit=1)
    client.batch_get_item(
        RequestItems={table: {"Keys": [*keys, {"pk": {"S": "gone"}, "sk": {"S": "gone"}}]}},
        ReturnConsumedCapacity="TOTAL",
    )
    for touched, returned in (("1", "ALL_NEW"), ("2", "UPDATED_OLD")):
        client.update_item(
            TableName=table,
            Key=keys[1],
            UpdateExpression="SET #n = :n",
            ExpressionAttributeNames={"#n": "touched"},
            ExpressionAttributeValues={":n": {"N": touched}},
            ReturnValues=returned,
        )
    client.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": _item("q", "one", items[0])}},
                {"DeleteRequest": {"Key": keys[2]}},
            ]
        }
    )
    client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}} for key in keys])
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": _item("t", "one", items[-1])}},
            {"Delete": {"TableName": table, "Key": keys[0]}},
        ]
    )
    client.delete_item(TableName=table, Key=keys[1], ReturnValues="ALL_OLD")
    client.delete_item(TableName=table, Key=keys[1], ReturnValues="ALL_OLD")  # nothing there now
    client.delete_table(TableName=table)

    fast = _compare(answers)
    assert fast == moto_json_answers.ITEM_OPERATIONS  # every one of them was answered the fast way
    answers.clear()


def test_errors_and_table_answers_keep_motos_serializer(engine_client: Any, answers: list[Answer]) -> None:
    create_table(engine_client, "answers-errors")
    engine_client.describe_table(TableName="answers-errors")
    with pytest.raises(engine_client.exceptions.ConditionalCheckFailedException):
        engine_client.put_item(
            TableName="answers-errors",
            Item={"pk": {"S": "p"}, "sk": {"S": "s"}},
            ConditionExpression="attribute_exists(pk)",
        )
    kept = {operation for operation, *_, as_json in answers if not as_json}
    assert kept >= {"CreateTable", "DescribeTable"}
    assert _compare(answers) == set()
