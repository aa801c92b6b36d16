"""moto's expressions parsed once per string give what moto gives parsing them on every call: the
same answers, errors and items, whatever names and values a call maps its placeholders to."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskbeacon.local.aws import moto_expressions
from tests.local.conftest import create_table

TOUCH = "SET #key = :key, #at = :at"
IF_SAME = "#hash = :hash AND #key < :key"

# (UpdateExpression, ConditionExpression or None, names, values): the same strings again and again
# with other names and values, new items and old, conditions that hold and that fail, bad requests.
CALLS: list[tuple[str, str | None, dict[str, str], dict[str, Any]]] = [
    (TOUCH, None, {"#key": "key", "#at": "at"}, {":key": {"S": "k1"}, ":at": {"S": "t1"}}),
    ("SET #h = :h", None, {"#h": "hash"}, {":h": {"S": "abc"}}),
    (
        TOUCH,
        IF_SAME,
        {"#key": "key", "#at": "at", "#hash": "hash"},
        {":key": {"S": "k2"}, ":at": {"S": "t2"}, ":hash": {"S": "abc"}},
    ),
    (
        TOUCH,
        IF_SAME,
        {"#key": "key", "#at": "at", "#hash": "hash"},
        {":key": {"S": "k3"}, ":at": {"S": "t3"}, ":hash": {"S": "xyz"}},
    ),
    (
        TOUCH,
        IF_SAME,
        {"#key": "key", "#at": "at", "#hash": "hash"},
        {":key": {"S": "k0"}, ":at": {"S": "t4"}, ":hash": {"S": "abc"}},
    ),
    (
        TOUCH,
        IF_SAME,
        {"#key": "other", "#at": "at2", "#hash": "hash"},
        {":key": {"S": "z"}, ":at": {"S": "t5"}, ":hash": {"S": "abc"}},
    ),
    (
        TOUCH,
        IF_SAME,
        {"#key": "key", "#at": "hash", "#hash": "hash"},
        {":key": {"S": "k9"}, ":at": {"S": "new"}, ":hash": {"S": "abc"}},
    ),
    (
        "SET #lease = :new ADD #rev :one",
        "#lease = :old",
        {"#lease": "lease", "#rev": "rev"},
        {":new": {"S": "a"}, ":one": {"N": "1"}, ":old": {"S": "none"}},
    ),
    (
        "SET #lease = :new ADD #rev :one",
        "attribute_not_exists(#lease) OR #lease = :old",
        {"#lease": "lease", "#rev": "rev"},
        {":new": {"S": "a"}, ":one": {"N": "1"}, ":old": {"S": "none"}},
    ),
    (
        "SET #lease = :new ADD #rev :one",
        "#lease = :old",
        {"#lease": "lease", "#rev": "rev"},
        {":new": {"S": "b"}, ":one": {"N": "5"}, ":old": {"S": "a"}},
    ),
    (
        "SET #lease = :new ADD #rev :one",
        "#lease = :old",
        {"#lease": "lease", "#rev": "count"},
        {":new": {"S": "c"}, ":one": {"N": "2"}, ":old": {"S": "b"}},
    ),
    (
        "SET #l = list_append(if_not_exists(#l, :empty), :more), #n = #n + :one",
        "attribute_exists(#n) OR attribute_not_exists(#l)",
        {"#l": "list", "#n": "rev"},
        {":empty": {"L": []}, ":more": {"L": [{"S": "x"}]}, ":one": {"N": "1"}},
    ),
    (
        "SET #l = list_append(if_not_exists(#l, :empty), :more), #n = #n + :one",
        "attribute_exists(#n) OR attribute_not_exists(#l)",
        {"#l": "items", "#n": "rev"},
        {":empty": {"L": []}, ":more": {"L": [{"N": "2"}]}, ":one": {"N": "10"}},
    ),
    ("SET #m.#k = :v", None, {"#m": "map", "#k": "a"}, {":v": {"S": "no map yet"}}),
    ("SET #m = :v", None, {"#m": "map"}, {":v": {"M": {"a": {"N": "1"}}}}),
    (
        "SET #m.#k = :v",
        "#m.#k BETWEEN :lo AND :hi",
        {"#m": "map", "#k": "a"},
        {":v": {"N": "7"}, ":lo": {"N": "0"}, ":hi": {"N": "5"}},
    ),
    (
        "SET #m.#k = :v",
        "#m.#k BETWEEN :lo AND :hi",
        {"#m": "map", "#k": "a"},
        {":v": {"N": "8"}, ":lo": {"N": "0"}, ":hi": {"N": "5"}},
    ),
    (
        "REMOVE #a, #b",
        "#c IN (:x, :y)",
        {"#a": "at", "#b": "at2", "#c": "lease"},
        {":x": {"S": "q"}, ":y": {"S": "c"}},
    ),
    (
        "ADD #s :s DELETE #t :t",
        "NOT begins_with(#k, :p)",
        {"#s": "set", "#t": "set", "#k": "key"},
        {":s": {"SS": ["a", "b"]}, ":t": {"SS": ["a"]}, ":p": {"S": "z"}},
    ),
    (
        "ADD #s :s",
        "NOT begins_with(#k, :p)",
        {"#s": "set", "#k": "key"},
        {":s": {"SS": ["c"]}, ":p": {"S": "k"}},
    ),
    ("SET #pk = :v", None, {"#pk": "pk"}, {":v": {"S": "not allowed"}}),
    (TOUCH, None, {"#key": "key", "#at": "at", "#unused": "x"}, {":key": {"S": "k"}, ":at": {"S": "t"}}),
    (TOUCH, None, {"#key": "key"}, {":key": {"S": "k"}, ":at": {"S": "t"}}),
    (TOUCH, IF_SAME, {"#key": "key", "#at": "at", "#hash": "hash"}, {":key": {"S": "k"}, ":at": {"S": "t"}}),
    ("SET #a = :a,", None, {"#a": "a"}, {":a": {"S": "x"}}),
    ("SET #a = :a", "#a = = :a", {"#a": "a"}, {":a": {"S": "x"}}),
    ("SET #a = :a", "#a = :a AND", {"#a": "a"}, {":a": {"S": "x"}}),
]


@pytest.fixture
def client(engine_client: Any) -> Any:
    return engine_client  # the embedded engine installs the cache with the other patches


def _play(client: Any, table: str) -> tuple[list[Any], list[Any]]:
    """Every call on two items (one made by the first call, one by the second), what each answered,
    and the items at the end."""
    answers: list[Any] = []
    for repeat in range(2):
        for number, (update, condition, names, values) in enumerate(CALLS):
            request: dict[str, Any] = {
                "TableName": table,
                "Key": {"pk": {"S": f"item-{number % 2}"}, "sk": {"S": "seen"}},
                "UpdateExpression": update,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValues": "ALL_NEW" if repeat else "UPDATED_OLD",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if condition is not None:
                request["ConditionExpression"] = condition
            try:
                answers.append(client.update_item(**request).get("Attributes"))
            except ClientError as error:
                answers.append((error.response["Error"], error.response.get("Item")))
            except Exception as error:  # moto raises some bad requests as they are
                answers.append((type(error).__name__, str(error)))
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return answers, sorted(items, key=lambda item: str(item["pk"]))


def test_parsed_once_gives_what_moto_gives(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    create_table(client, "cached")
    create_table(client, "uncached")
    cached = _play(client, "cached")
    assert moto_expressions._update_trees and moto_expressions._condition_tokens  # the cache was used

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    monkeypatch.setattr(UpdateExpressionParser, "make", moto_expressions.originals["make"])
    monkeypatch.setattr(
        ConditionExpressionParser, "_lex_condition_expression", moto_expressions.originals["lex"]
    )
    monkeypatch.setattr(validators, "deepcopy", moto_expressions.originals["deepcopy"])
    uncached = _play(client, "uncached")

    assert cached == uncached
    answers, items = cached
    errors = [
        answer[0]["Code"] for answer in answers if isinstance(answer, tuple) and isinstance(answer[0], dict)
    ]
    assert "ConditionalCheckFailedException" in errors and "ValidationException" in errors
    assert any(isinstance(answer, tuple) and isinstance(answer[1], dict) for answer in answers)  # ALL_OLD
    assert {"KeyError", "ValueError"} <= {
        answer[0] for answer in answers if isinstance(answer, tuple) and isinstance(answer[0], str)
    }
    assert len(items) == 2
