"""Event patterns, matched as EventBridge rules and Lambda's event filtering match them, for the parts
local mode's two patterns use: the deployed rule's (``core.vocabulary``,
taskbeacon/local/aws/event_rule.py) and the indexer's stream filter (``core.store.keys``,
taskbeacon/local/aws/stream_pump.py).

AWS Lambda Developer Guide, "Control which events Lambda sends to your function"
(invocation-eventfiltering): "If a record from your event source satisfies one or more of your
filters, Lambda includes the record in the next event it sends to your function. If none of your
filters are satisfied, Lambda discards the record." Lambda's filter patterns use EventBridge's
syntax; "Using event filtering with a DynamoDB event source" (with-ddb-filtering): a pattern is
matched against the stream record as Lambda delivers it, e.g. ``{"dynamodb": {"Keys":
{"CustomerName": {"S": ["AnyCompany Industries"]}}}}`` passes the records whose key
``CustomerName`` is that string. EventBridge User Guide, "Content filtering in Amazon EventBridge
event patterns", Or matching: ``"$or"`` passes what any of its patterns passes.

Supported here, and checked by :func:`check_pattern`: nested objects (every field named must be
present and match) whose leaves are lists of exact string values, any one of which matches, and
``$or``. Not supported (refused, never silently mismatched): ``prefix``, ``anything-but``,
``numeric``, ``exists`` and the other operators, numbers, booleans and null.

The stream pump matches records in GetRecords' JSON answer, before botocore parses it and before it
builds Lambda's event shape: the fields a string leaf can name (``eventName``, a string key or
attribute under ``dynamodb``) hold the same strings in all three. A discarded record is not
delivered and not retried; the shard's checkpoint moves past it, so a restart does not read it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OR = "$or"


def check_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``pattern`` uses only what :func:`matches` matches."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise ValueError(f"a filter pattern is a non-empty object, not {pattern!r}")
    for field, rule in pattern.items():
        if not isinstance(field, str):
            raise ValueError(f"filter pattern field {field!r} is not a string")
        if field == OR and isinstance(rule, list) and rule:
            for branch in rule:
                check_pattern(branch)
        elif isinstance(rule, Mapping):
            check_pattern(rule)
        elif isinstance(rule, list) and rule and all(isinstance(value, str) for value in rule):
            continue
        else:
            raise ValueError(
                f"filter pattern field {field!r}: {rule!r} is not supported here "
                "(a non-empty list of exact string values, a nested object, or $or)"
            )


def matches(pattern: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Whether ``pattern`` (one :func:`check_pattern` accepts) passes ``document``."""
    for field, rule in pattern.items():
        if field == OR:
            if not any(matches(branch, document) for branch in rule):
                return False
            continue
        value = document.get(field)
        if isinstance(rule, Mapping):
            if not isinstance(value, Mapping) or not matches(rule, value):
                return False
        elif not isinstance(value, str) or value not in rule:
            return False
    return True
