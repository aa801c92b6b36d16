"""Plain-text formatting primitives: cell values and aligned tables (stdlib only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

NULL = "-"


def cell(value: Any) -> str:
    """One value as table text; unknown (null or empty) is ``-``."""
    if value is None or value in ("", [], {}):
        return NULL
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def when(value: Any) -> str:
    """RFC 3339 timestamps shown in UTC to the second; anything unparsable is shown as it came."""
    if not isinstance(value, str) or not value:
        return cell(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:  # no offset: show it as given rather than pretend it is UTC
        return parsed.strftime("%Y-%m-%dT%H:%M:%S")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_digest(digest: Any, length: int = 12) -> str:
    """``sha256:0123456789abcdef...`` -> ``sha256:0123456789ab``: enough to recognise, short enough to fit."""
    if not isinstance(digest, str) or not digest:
        return NULL
    algo, sep, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:length]}" if sep else digest[:length]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in pairs), default=0) + 1
    return "\n".join(f"{(k + ':').ljust(width)} {v}" for k, v in pairs)
