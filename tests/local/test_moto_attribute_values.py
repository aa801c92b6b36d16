"""moto reads the attribute values of a request the same with local mode's reader as with its walk.

Requests of the item operations the handlers send are drawn with items of every attribute type,
nested, and parsed by moto's JSON request parser twice: with local mode's reader of attribute values
and with moto's own shape walk. The results must be equal, and a malformed value must fail the same
way in both.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskbeacon.local.aws import engine_bounds, moto_attribute_values

_names = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
_blob = st.binary(max_size=10).map(lambda b: base64.b64encode(b).decode())
_scalar = st.one_of(
    st.text(max_size=6).map(lambda s: {"S": s}),
    st.integers(-(10**9), 10**9).map(lambda n: {"N": str(n)}),
    _blob.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(max_size=4), min_size=1, max_size=3).map(lambda s: {"SS": s}),
    st.lists(st.integers(0, 99).map(str), min_size=1, max_size=3).map(lambda s: {"NS": s}),
    st.lists(_blob, min_size=1, max_size=3).map(lambda s: {"BS": s}),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner | st.none(), max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(_names, inner | st.none(), max_size=3).map(lambda m: {"M": m}),
        # null members beside the one that counts, as a hand-written request may carry
        st.tuples(inner).map(lambda t: {**t[0], "S": None} if "S" not in t[0] else t[0]),
    ),
    max_leaves=10,
)
_item = st.dictionaries(_names, _value, min_size=1, max_size=5)


def _requests(item: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}
    values = {f":v{n}": value for n, value in enumerate(other.values())}
    return [
        ("PutItem", {"TableName": "t", "Item": item, "Expected": {"a": {"Value": {"S": "x"}}}}),
        (
            "UpdateItem",
            {
                "TableName": "t",
                "Key": key,
                "UpdateExpression": "SET a = :v0",
                "ExpressionAttributeValues": values,
                "AttributeUpdates": {"b": {"Value": item.get(next(iter(item))), "Action": "PUT"}},
            },
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": key}}]}},
        ),
        ("BatchGetItem", {"RequestItems": {"t": {"Keys": [key, other]}}}),
        (
            "Query",
            {
                "TableName": "t",
                "KeyConditionExpression": "pk = :v0",
                "ExpressionAttributeValues": values,
                "ExclusiveStartKey": item,
                "Limit": 5,
            },
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "t", "Item": item}},
                    {"Update": {"TableName": "t", "Key": key, "ExpressionAttributeValues": values}},
                ]
            },
        ),
    ]


@contextmanager
def _moto_walk() -> Iterator[None]:
    from moto.core.parse import BaseJSONParser

    ours = BaseJSONParser._parse_structure, BaseJSONParser._parse_map
    BaseJSONParser._parse_structure = moto_attribute_values.originals["parse_structure"]  # type: ignore[method-assign]
    BaseJSONParser._parse_map = moto_attribute_values.originals["parse_map"]  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseJSONParser._parse_structure, BaseJSONParser._parse_map = ours  # type: ignore[method-assign]


def _parse(operation: str, body: dict[str, Any], service: str = "dynamodb") -> Any:
    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    model = get_service_model(service).operation_model(operation)
    request = {"method": "POST", "values": {}, "headers": {}, "body": json.dumps(body).encode()}
    try:
        return ("parsed", JSONParser(model).parse(request))  # type: ignore[arg-type]
    except Exception as error:  # a malformed value fails: the same way both times
        return ("failed", type(error).__name__)


@settings(max_examples=60, deadline=None)
@given(item=_item, other=_item)
def test_requests_parse_the_same_as_motos_walk(item: dict[str, Any], other: dict[str, Any]) -> None:
    engine_bounds.install()
    for operation, body in _requests(item, other):
        ours = _parse(operation, body)
        with _moto_walk():
            theirs = _parse(operation, body)
        assert ours == theirs, operation


@pytest.mark.parametrize(
    "value",
    [
        "text",
        5,
        ["S", "x"],
        {"M": "not a map"},
        {"L": 7},
        {"BS": [None]},
        {"B": 12},
        {"SS": "abc"},
        {"M": {"a": "b"}},
        {"L": [[1]]},
    ],
)
def test_malformed_values_fail_or_parse_as_motos_walk(value: Any) -> None:
    engine_bounds.install()
    for operation, body in _requests({"a": value}, {"b": value}):
        ours = _parse(operation, body)
        with _moto_walk():
            theirs = _parse(operation, body)
        assert ours == theirs, operation


def test_other_services_shapes_named_attribute_value_keep_motos_walk() -> None:
    """identitystore's AttributeValue is a document, not DynamoDB's ten members."""
    engine_bounds.install()
    body = {
        "IdentityStoreId": "d-1234567890",
        "UserId": "u-1",
        "Operations": [{"AttributePath": "name.givenName", "AttributeValue": {"GivenName": "Ana", "S": "x"}}],
    }
    ours = _parse("UpdateUser", body, "identitystore")
    with _moto_walk():
        theirs = _parse("UpdateUser", body, "identitystore")
    assert ours == theirs
    assert ours[1]["Operations"][0]["AttributeValue"] == {"GivenName": "Ana", "S": "x"}
