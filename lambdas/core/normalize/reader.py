"""Typed, path-aware reads from untrusted JSON documents.

Every accessor either returns a value of the promised type, ``None`` when the key is missing or
``null``, or raises ``InvalidInput`` whose ``field`` is the dotted/indexed path into the request
body. That keeps each normalizer free of ``isinstance`` noise and guarantees that nothing but
``InvalidInput`` escapes.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from core.errors import InvalidInput
from core.model.envelope import parse_rfc3339

# DynamoDB numbers hold 38 digits; integers we store (exit codes, counts) stay well inside int64.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The shape every ECS source sends: UTC, "T" and "Z", 0-9 fractional digits. Hours 00-23 only: some
# Python versions' fromisoformat read 24:00 as the next midnight, which RFC 3339 does not allow.
_UTC_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z", re.ASCII
)


def child(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` when the key is not a plain name (``com.amazonaws.ecs.cluster``)."""
    # An ASCII identifier is a plain name; only other keys need the pattern (and maybe quoting).
    if not (key.isascii() and key.isidentifier()) and not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def bad(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path} {problem}", field=path)


def check_text(value: str, path: str) -> str:
    """Reject lone surrogates (possible after ``json.loads``): they cannot be encoded for storage."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise bad(path, "is not valid unicode text") from None
    return value


class Obj:
    """A JSON object plus where it sits in the request body."""

    __slots__ = ("data", "path")

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    @classmethod
    def of(cls, value: object, path: str) -> Obj:
        if not isinstance(value, dict):
            raise bad(path, "must be a JSON object")
        return cls(value, path)

    def at(self, key: str) -> str:
        return child(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str) -> str | None:
        """A string; ``""`` means unknown in every ECS source (Go zero value), so it reads as ``None``."""
        value = self.data.get(key)
        if value.__class__ is str:  # the common case first: ASCII text, no path built
            if value.isascii():
                return value or None
            return check_text(value, self.at(key))
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise bad(self.at(key), "must be a string")
        return value if value.isascii() else check_text(value, self.at(key))

    def text_or_int(self, key: str) -> str | None:
        """Revision-like values: strings in TMDE, sometimes numbers elsewhere."""
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(key)

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(self.at(key), "must be an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise bad(self.at(key), "is out of range")
        return value

    def number(self, key: str) -> float | int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(self.at(key), "must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise bad(self.at(key), "must be a finite number")
        return value

    def time(self, key: str) -> datetime | None:
        """RFC 3339 (0-9 fractional digits, ``Z`` or offset) as UTC; Go's zero time reads as ``None``."""
        value = self.text(key)
        if value is None:
            return None
        if _UTC_TIME.fullmatch(value) and not value.startswith("0001-"):
            # The same instant parse_rfc3339 returns (digits past microseconds truncated), built
            # by the C parser; an impossible date falls through to parse_rfc3339 for its message.
            fraction = value[20:-1][:6].ljust(6, "0") if len(value) > 20 else "000000"
            try:
                return datetime.fromisoformat(f"{value[:19]}.{fraction}+00:00")
            except ValueError:
                pass
        try:
            return parse_rfc3339(value)
        except ValueError as exc:
            raise bad(self.at(key), str(exc)) from None

    def obj(self, key: str) -> Obj | None:
        value = self.data.get(key)
        if value is None:
            return None
        return Obj.of(value, self.at(key))

    def objs(self, key: str) -> list[Obj]:
        """A list of objects; missing or ``null`` is an empty list."""
        value = self.data.get(key)
        if value is None:
            return []
        path = self.at(key)
        if not isinstance(value, list):
            raise bad(path, "must be a list")
        return [Obj.of(item, f"{path}[{i}]") for i, item in enumerate(value)]

    def texts(self, key: str) -> list[str]:
        """A list of strings, without empty ones (host mode reports ``IPv4Addresses: [""]``)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise bad(self.at(key), "must be a list")
        out: list[str] = []
        for i, item in enumerate(value):
            if item is None or item == "":
                continue
            if item.__class__ is str and item.isascii():  # no path needed
                out.append(item)
                continue
            if not isinstance(item, str):
                raise bad(f"{self.at(key)}[{i}]", "must be a string")
            out.append(check_text(item, f"{self.at(key)}[{i}]"))
        return out

    def text_map(self, key: str) -> dict[str, str]:
        """A string-to-string map (labels, tags); missing or ``null`` is empty."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise bad(self.at(key), "must be a JSON object")
        # Nearly always every key and value is ASCII text: that needs no path, so none is built.
        if all(
            isinstance(k, str) and isinstance(v, str) and k.isascii() and v.isascii()
            for k, v in value.items()
        ):
            return dict(value)
        path = self.at(key)
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise bad(child(path, k), "must be a string")
            check_text(k, path)
            check_text(v, child(path, k))
        return dict(value)
