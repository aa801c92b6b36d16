"""Lambda's event filtering of a DynamoDB event source mapping, for the parts local mode's pattern uses.

AWS Lambda Developer Guide, "Control which events Lambda sends to your function"
(invocation-eventfiltering): "If a record from your event source satisfies one or more of your
filters, Lambda includes the record in the next event it sends to your function. If none of your
filters are satisfied, Lambda discards the record." And "Using event filtering with a DynamoDB event
source" (with-ddb-filtering): a pattern is matched against the stream record as Lambda delivers it,
e.g. ``{"dynamodb": {"Keys": {"CustomerName": {"S": ["AnyCompany Industries"]}}}}`` passes the
records whose key ``CustomerName`` is that string.

Supported here, and checked by :func:`check_pattern`: nested objects (every field named must be
present and match) whose leaves are lists of exact string values, any one of which matches. Not
supported (refused, never silently mismatched): ``prefix``, ``anything-but``, ``numeric``,
``exists``, ``$or`` and the other operators, numbers, booleans and null.

The pump (taskbeacon/local/aws/stream_pump.py) matches records in GetRecords' JSON answer, before
botocore parses it and before it builds Lambda's event shape: the fields a string leaf can name
(``eventName``, a string key or attribute under ``dynamodb``) hold the same strings in all three.
A discarded record is not delivered and not retried; the shard's checkpoint moves past it, so a
restart does not read it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``pattern`` uses only what :func:`record_passes` matches."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise ValueError(f"a filter pattern is a non-empty object, not {pattern!r}")
    for field, rule in pattern.items():
        if not isinstance(field, str):
            raise ValueError(f"filter pattern field {field!r} is not a string")
        if isinstance(rule, Mapping):
            check_pattern(rule)
        elif isinstance(rule, list) and rule and all(isinstance(value, str) for value in rule):
            continue
        else:
            raise ValueError(
                f"filter pattern field {field!r}: {rule!r} is not supported here "
                "(a non-empty list of exact string values, or a nested object)"
            )


def record_passes(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether Lambda delivers ``record`` under ``pattern`` (a pattern :func:`check_pattern` accepts)."""
    for field, rule in pattern.items():
        value = record.get(field)
        if isinstance(rule, Mapping):
            if not isinstance(value, Mapping) or not record_passes(rule, value):
                return False
        elif not isinstance(value, str) or value not in rule:
            return False
    return True
