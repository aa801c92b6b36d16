"""How the inventory spells a moment: fixed-width UTC text, so lexical order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so lexical order is time order (aware times are converted to UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    # The year by hand: strftime's %Y does not zero-pad years before 1000 on Linux.
    return f"{value.year:04d}" + value.strftime("-%m-%dT%H:%M:%S.%fZ")
