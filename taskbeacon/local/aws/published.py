"""``GET /_local/events/published`` (operator only): the change events local mode's in-process bus
published (core.publish.local_bus), oldest first; ``?after=<seq>`` gives only newer ones, so
``taskbeacon events tail --follow`` polls without repeats. The bus keeps the last 1,000."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs


def published_events(query: str) -> tuple[int, dict[str, Any]]:
    from core.publish import local_bus

    raw = parse_qs(query).get("after", ["0"])[-1]
    if not raw.isascii() or not raw.isdecimal():
        return HTTPStatus.BAD_REQUEST, {
            "error": {"code": "BAD_REQUEST", "message": "after must be a whole number", "field": "after"}
        }
    events = local_bus().published(int(raw))
    return HTTPStatus.OK, {"events": events, "last": events[-1]["seq"] if events else int(raw)}
