"""Untrusted JSON in, a Python value out, or an error that names where in the document it went wrong.

``parse_json_body`` reads a request body; ``check_document`` vets a value that is already parsed
(an EventBridge event, which Lambda hands over as a dict). Both refuse what the rest of the system
cannot hold, so nothing further down has to guard against it:

- nesting deeper than ``MAX_DEPTH`` (ECS documents nest fewer than 10 levels; Python's own parser
  and serializers give up near 1,000, with an exception that is not a ``ValueError``);
- text that is not UTF-8 (invalid or overlong byte sequences, lone surrogates from ``\\ud800``
  escapes), which can be neither stored nor logged;
- ``NaN``/``Infinity`` (not JSON) and numbers beyond a double (``1e400``);
- integers of more than ``MAX_INTEGER_DIGITS`` digits, which a DynamoDB number cannot hold.

Places are written as the normalizers write them (``task.Containers[2].Name``,
``task.Labels["com.amazonaws.ecs.cluster"]``); the document root is ``body``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from core.errors import InvalidInput, PayloadTooLarge

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 38  # DynamoDB numbers: 38 digits of precision
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS
ROOT = "body"

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Strings (possibly cut short by the end of the text) and the structural characters of JSON.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)|[{}\[\],:]', re.DOTALL)


class _Refused:
    """A number or constant the parser met and the rules refuse; ``check_document`` names its place."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def child(path: str, key: str | int, root: str = ROOT) -> str:
    """``path.key``, ``path[3]``, or ``path["odd.key"]``; the ``root`` name drops out of object keys."""
    base = "" if path == root else path
    if isinstance(key, int):
        return f"{base or root}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{base or root}[{json.dumps(key)}]"
    return f"{base}.{key}" if base else key


def parse_json_body(body: str | bytes | None, *, max_bytes: int) -> object:
    """The request body as JSON; 413 over the size limit, 400 naming ``body`` (or the place inside it)."""
    if body is None or body in ("", b""):
        raise InvalidInput("request body is empty; expected a JSON snapshot envelope", field=ROOT)
    if isinstance(body, str):
        try:
            raw = body.encode()
        except UnicodeEncodeError as error:  # lone surrogates: the bytes were not UTF-8
            place = locate(body, offset=error.start)
            raise InvalidInput(f"{place} is not valid UTF-8", field=place) from None
    else:
        raw = body
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {max_bytes}", field=ROOT)
    try:
        text = raw.decode("utf-8")  # strict: refuses invalid and overlong sequences and encoded surrogates
    except UnicodeDecodeError as error:
        place = locate(raw[: error.start].decode("utf-8"), offset=error.start)
        raise InvalidInput(
            f"{place} is not valid UTF-8 (byte {error.start} of the body)", field=place
        ) from None
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_integer)
    except RecursionError:
        place = locate(text, depth=MAX_DEPTH)
        raise InvalidInput(f"{place} nests deeper than {MAX_DEPTH} levels", field=place) from None
    except ValueError as error:  # JSONDecodeError
        raise InvalidInput(f"request body is not valid JSON: {error}", field=ROOT) from None
    check_document(value)
    return value


def _constant(name: str) -> _Refused:
    return _Refused(f"is {name}, which is not a JSON number")


def _float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused("is beyond the range of a number")


def _integer(text: str) -> int | _Refused:
    # Checked on the text: Python refuses to convert more than 4,300 digits at all.
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _Refused(f"has more than {MAX_INTEGER_DIGITS} digits (what a DynamoDB number holds)")
    return int(text)


def check_document(value: object, root: str = ROOT) -> None:
    """Raise ``InvalidInput`` naming the first place in ``value`` that breaks the rules above;
    top-level keys are named bare (``detail.version``), the value itself ``root``.

    Iterative, so a document nested past Python's recursion limit is measured, not crashed on.
    """
    stack: list[tuple[object, str, int]] = [(value, root, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise InvalidInput(f"{where} nests deeper than {MAX_DEPTH} levels", field=where)
            stack += _children(node, where, depth + 1, root)
        else:
            _check_scalar(node, where)


def _children(
    node: dict[Any, Any] | list[Any], where: str, depth: int, root: str
) -> list[tuple[object, str, int]]:
    """The children worth a look, last first: popped from the stack, they follow document order."""
    if isinstance(node, list):
        return [
            (node[index], child(where, index, root), depth)
            for index in range(len(node) - 1, -1, -1)
            if node[index] is not None and not isinstance(node[index], bool)
        ]
    out: list[tuple[object, str, int]] = []
    for key, item in reversed(node.items()):
        if not isinstance(key, str):
            raise InvalidInput(f"{where} has a key that is not a string", field=where)
        _check_text(key, where, what="has a key that is not")
        if item is not None and not isinstance(item, bool):
            out.append((item, child(where, key, root), depth))
    return out


def _check_scalar(node: object, where: str) -> None:
    if isinstance(node, str):
        _check_text(node, where)
    elif isinstance(node, _Refused):
        raise InvalidInput(f"{where} {node.reason}", field=where)
    elif isinstance(node, int) and not -_INTEGER_LIMIT < node < _INTEGER_LIMIT:
        raise InvalidInput(
            f"{where} has more than {MAX_INTEGER_DIGITS} digits (what a DynamoDB number holds)", field=where
        )
    elif isinstance(node, float) and not math.isfinite(node):
        raise InvalidInput(f"{where} must be a finite number", field=where)


def _check_text(text: str, where: str, what: str = "is not") -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{where} {what} valid unicode text", field=where) from None


def locate(text: str, *, offset: int | None = None, depth: int | None = None) -> str:
    """The place in (possibly broken) JSON ``text`` at character ``offset``, or where nesting first
    goes past ``depth``. Reads tokens only, so it works on text ``json.loads`` refuses."""
    frames: list[list[Any]] = []  # ["{", key, expecting_key] or ["[", index]
    end = len(text) if offset is None else min(offset, len(text))
    for token in _TOKENS.finditer(text, 0, end):
        mark = token.group()
        if mark in "{[":
            if depth is not None and len(frames) >= depth:
                break
            frames.append(["{", None, True] if mark == "{" else ["[", 0])
        elif mark in "}]":
            if frames:
                frames.pop()
        elif frames:
            _advance(frames[-1], mark)
    return _place(frames)


def _advance(frame: list[Any], mark: str) -> None:
    """One token inside the innermost container: next index, next key, or the key just read."""
    if frame[0] == "[":
        if mark == ",":
            frame[1] += 1
    elif mark == ",":
        frame[1], frame[2] = None, True
    elif mark == ":":
        frame[2] = False
    elif frame[2] and len(mark) > 1 and mark.endswith('"'):
        try:
            frame[1] = json.loads(mark)
        except ValueError:
            frame[1] = mark[1:-1]


def _place(frames: list[list[Any]]) -> str:
    place = ROOT
    for frame in frames:
        if frame[0] == "{" and frame[1] is None:
            break  # between keys: the object itself is the place
        place = child(place, frame[1])
        if frame[0] == "{" and frame[2]:
            break  # in (or right after) a key
    return place


__all__ = ["MAX_DEPTH", "MAX_INTEGER_DIGITS", "check_document", "locate", "parse_json_body"]
