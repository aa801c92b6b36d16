"""Opaque page cursors: the DynamoDB position, bound to the query that produced it.

A cursor is base64url JSON ``{"v": 1, "q": <query fingerprint>, "k": <LastEvaluatedKey>}``. It
carries no secret and needs none: it can only seek within the partition the query already reads,
and a cursor from another query, a forged one or an unparseable one is rejected with a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from core.errors import InvalidCursor

_VERSION = 1


def fingerprint(query: dict[str, Any]) -> str:
    canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(position: Any, query: dict[str, Any]) -> str:
    payload = {"v": _VERSION, "q": fingerprint(query), "k": position}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_MAX_CURSOR = 8192


def decode(cursor: str, query: dict[str, Any]) -> Any:
    """The position stored in ``cursor``; InvalidCursor if it is not one this query handed out.

    The caller checks the position's shape; this checks only that it came from the same query.
    """
    if len(cursor) > _MAX_CURSOR:
        raise InvalidCursor("cursor is not one this API handed out", field="cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeError, RecursionError) as error:
        raise InvalidCursor("cursor is not one this API handed out", field="cursor") from error
    if not isinstance(payload, dict) or payload.get("v") != _VERSION or "k" not in payload:
        raise InvalidCursor("cursor is not one this API handed out", field="cursor")
    if payload.get("q") != fingerprint(query):
        raise InvalidCursor(
            "cursor belongs to a different query; drop it or repeat that query", field="cursor"
        )
    return payload["k"]
