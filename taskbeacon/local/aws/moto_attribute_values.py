"""moto's reading of DynamoDB attribute values in a request, without its generic shape walk.

moto parses every JSON request against botocore's input shape, node by node, looking up a method
per node by name. An item is mostly attribute values (``{"S": ...}``, ``{"M": {...}}``), so for the
indexer's BatchWriteItem and the handlers' writes most of that walk is spent on them: 4.7 % of local
mode's CPU at 1,000 demo tasks. Here an attribute value is read by a function that knows its ten
members, and does what moto's walk does with each: members in the shape's order, a ``null`` member
left out, binary values (``B``, ``BS``) base64-decoded, maps (``M``) and lists (``L``) of values
read the same way. Everything else in a request still goes through moto's walk.

tests/local/test_moto_attribute_values.py parses drawn items of every attribute type, nested, in
the requests the handlers send, both ways, and compares the results.
"""

from __future__ import annotations

import base64
from typing import Any

ATTRIBUTE_VALUE = "AttributeValue"  # botocore's shape of one attribute's value
# The members of AttributeValue in the shape's order (botocore's dynamodb service-2.json).
_MEMBERS = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})

originals: dict[str, Any] = {}  # moto's own methods, as they were before install() (for tests)


def install() -> None:
    from moto.core.parse import BaseJSONParser

    parse_structure = BaseJSONParser._parse_structure
    parse_map = BaseJSONParser._parse_map
    originals.update(parse_structure=parse_structure, parse_map=parse_map)

    def structure(self: Any, shape: Any, value: Any) -> Any:
        if _is_attribute_value(self, shape) and isinstance(value, dict):
            return attribute_value(value)
        return parse_structure(self, shape, value)

    def mapping(self: Any, shape: Any, value: Any) -> Any:
        if _is_attribute_value(self, shape.value) and self.MAP_TYPE is dict and isinstance(value, dict):
            return {key: _value(inner) for key, inner in value.items()}
        return parse_map(self, shape, value)

    BaseJSONParser._parse_structure = structure  # type: ignore[method-assign]
    BaseJSONParser._parse_map = mapping  # type: ignore[method-assign]


def _is_attribute_value(parser: Any, shape: Any) -> bool:
    """DynamoDB's (and its streams') attribute value: other services have shapes of that name too."""
    return (
        shape.name == ATTRIBUTE_VALUE
        and tuple(shape.members) == _MEMBERS
        and parser.operation_model.service_model.service_name in _SERVICES
    )


def attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """One attribute value as moto's walk reads it (a non-object raises AttributeError, as there)."""
    parsed: dict[str, Any] = {}
    for member in _MEMBERS:
        inner = value.get(member)
        if inner is None:
            continue
        if member == "B":
            inner = base64.b64decode(inner)
        elif member == "BS":
            inner = [base64.b64decode(blob) for blob in inner]
        elif member == "M":
            inner = {key: _value(item) for key, item in inner.items()}
        elif member == "L":
            inner = [_value(item) for item in inner]
        elif member in ("SS", "NS"):
            inner = list(inner)
        parsed[member] = inner
    return parsed


def _value(value: Any) -> Any:
    """A member of a map or list of attribute values: ``null`` stays ``None``, as in moto's walk."""
    return None if value is None else attribute_value(value)
