"""moto's answers to DynamoDB's item operations, written with ``json.dumps``, for the embedded engine.

moto answers every call through its generic response serializer, which walks botocore's output
shape member by member and looks each value up through a chain of attribute aliases. For the item
operations that is most of the cost of the answer: at 1,000 demo tasks it was 13 % of local mode's
CPU (the indexer's BatchWriteItem, the handlers' Query and BatchGetItem). Their results are
DynamoDB JSON already (``{"S": ...}`` maps built by moto's ``dynamo_to_dict``), so the answer is
that document as JSON, as DynamoDB's own JSON protocol carries it: binary values base64-encoded,
and members without a value (``None``) left out, as the serializer leaves them out.

Only the operations in ``ITEM_OPERATIONS`` are answered this way, and only with a plain result;
errors, and every other operation (tables, streams, TTL, tags), keep moto's serializer.
tests/local/test_moto_json_answers.py plays the handlers' calls and drawn items of every attribute
type through both and compares the parsed answers.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

ITEM_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "UpdateItem",
    }
)
ATTRIBUTE_VALUE = "AttributeValue"  # botocore's shape of one attribute's value
CONTENT_TYPE = "application/x-amz-json-1.0"  # DynamoDB's JSON protocol version (its service model)

originals: dict[str, Any] = {}  # moto's own method, as it was before install() (for tests)


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    serialized = DynamoHandler.serialized
    originals["serialized"] = serialized
    plain = (ActionResult, DynamoResult)

    def as_json(self: Any, action_result: Any) -> Any:
        operation = self._get_action()
        if not answered_as_json(operation, action_result, plain):
            return serialized(self, action_result)
        headers = {"Content-Type": CONTENT_TYPE, **self.response_headers}
        return 200, headers, answer_body(action_result.result, output_shape(operation))

    DynamoHandler.serialized = as_json  # type: ignore[method-assign]


def answered_as_json(operation: str, action_result: Any, plain: tuple[type, ...]) -> bool:
    """An item operation's plain result (not an error, not a paginated or empty result)."""
    return (
        operation in ITEM_OPERATIONS
        and type(action_result) in plain
        and not isinstance(action_result.result, Exception)
    )


@functools.cache
def output_shape(operation: str) -> Any:
    """botocore's output shape of a DynamoDB operation (the service model is loaded once)."""
    from moto.core.utils import get_service_model

    return get_service_model("dynamodb").operation_model(operation).output_shape


def answer_body(result: Any, shape: Any) -> str:
    """The JSON body of an item operation's result: what its output shape names, ``None`` left out."""
    return json.dumps(_shaped(result, shape), separators=(",", ":"), default=_binary)


def _shaped(value: Any, shape: Any) -> Any:
    """``value`` with only the members its shape has, as the serializer writes them. An attribute
    value (``{"S": ...}``) is written whole: it is DynamoDB JSON already, and walking it attribute by
    attribute is the cost this module removes."""
    kind = shape.type_name
    if kind == "structure":
        if shape.name == ATTRIBUTE_VALUE:
            return value
        members = shape.members
        return {
            key: _shaped(inner, members[key])
            for key, inner in value.items()
            if key in members and inner is not None
        }
    if kind == "list":
        return [_shaped(inner, shape.member) for inner in value]
    if kind == "map":
        if shape.value.name == ATTRIBUTE_VALUE:
            return value
        return {key: _shaped(inner, shape.value) for key, inner in value.items()}
    return value


def _binary(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable in an item answer")
