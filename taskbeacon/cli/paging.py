"""Cursor paging: one page, or ``--all`` following ``nextCursor`` until it is null."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from taskbeacon.api.client import Getter, QueryValue
from taskbeacon.api.errors import CliError


class Progress:
    """A one-line counter on stderr, shown only on a terminal so logs and pipes stay clean."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()
        self._shown = False

    def update(self, items: int, pages: int) -> None:
        if self._enabled:
            self._stream.write(f"\rfetched {items} items ({pages} pages)...")
            self._stream.flush()
            self._shown = True

    def done(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")  # erase the counter line before the real output
            self._stream.flush()


def page(api: Getter, path: str, params: Mapping[str, QueryValue]) -> dict[str, Any]:
    body = api.get(path, params)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise CliError(f"unexpected answer from {path}: expected a page with an items list")
    return body


def iter_pages(
    api: Getter, path: str, params: Mapping[str, QueryValue], progress: Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Each page in turn, following ``nextCursor`` until it is null (a repeated cursor is an error)."""
    seen: set[str] = set()
    query = dict(params)
    pages = items = 0
    try:
        while True:
            body = page(api, path, query)
            pages += 1
            items += len(body["items"])
            if progress is not None:
                progress.update(items, pages)
            yield body
            cursor = body.get("nextCursor")
            if not cursor:
                return
            if cursor in seen:  # a server bug must not turn --all into an endless loop
                raise CliError(f"the API returned the same cursor twice while paging {path}")
            seen.add(cursor)
            query["cursor"] = cursor
    finally:
        if progress is not None:
            progress.done()


def all_pages(api: Getter, path: str, params: Mapping[str, QueryValue], progress: Progress) -> dict[str, Any]:
    """Every item of every page, as one page whose ``nextCursor`` is null."""
    items: list[Any] = []
    for body in iter_pages(api, path, params, progress):
        items.extend(body["items"])
    return {"items": items, "nextCursor": None}
