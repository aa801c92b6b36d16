"""Times on the command line: RFC 3339 with an offset, or a duration before now (``24h``, ``-2h``, ``1h30m``).

A relative time always means the past: ``--since 24h`` and ``--at -2h`` are 24 and 2 hours ago. It is
turned into RFC 3339 UTC (to the second) here, so the API only ever sees absolute times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_RELATIVE = re.compile(r"-?((?:\d{1,7}[smhdw])+)")
_PART = re.compile(r"(\d+)([smhdw])")
EXAMPLES = "e.g. 24h, -2h, 30m, 7d, 1h30m or 2026-11-28T09:14:00Z"

# Injectable for tests: what "now" is when a relative time is resolved.
now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


class TimeError(ValueError):
    pass


def resolve(value: str) -> str:
    """The RFC 3339 text to send for one command-line time; ``TimeError`` says what is wrong with it."""
    text = value.strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        seconds = sum(int(n) * UNITS[unit] for n, unit in _PART.findall(match.group(1)))
        return format_utc(now() - timedelta(seconds=seconds))
    if text.startswith("+"):
        raise TimeError(f"{value!r}: relative times count back from now; write {text[1:]!r} or -{text[1:]}")
    parsed = parse_rfc3339(text)
    if parsed is None:
        raise TimeError(f"{value!r} is neither RFC 3339 with a timezone nor a duration ({EXAMPLES})")
    return text


def parse_rfc3339(text: str) -> datetime | None:
    if "T" not in text.upper() or len(text) < 20:  # a date alone or a time alone is not a moment
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def as_datetime(text: str) -> datetime:
    """A value already returned by ``resolve``, as an aware datetime."""
    parsed = parse_rfc3339(text)
    if parsed is None:  # pragma: no cover - resolve only returns parsable text
        raise TimeError(f"{text!r} is not RFC 3339")
    return parsed


def format_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
