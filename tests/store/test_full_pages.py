"""Pages are full up to the limit, and a cursor (the "more" hint) appears only when more exists:
for every limit, following cursors lists every task once, every page but the last holds exactly
`limit` tasks, and the last page is never empty behind a cursor."""

from __future__ import annotations

from typing import Any

from tests.store.builders import snapshot, task
from tests.store.inventory import Inventory

FLEET = 40  # several pages for every limit below, several entries in every index shard


def _walk(inventory: Inventory, filters: dict[str, str], limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = inventory.query.list_tasks(filters, since=None, limit=limit, cursor=cursor)
        pages.append([item["taskId"] for item in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) <= FLEET + 1, "cursors must end"


def test_every_page_is_full_and_the_last_has_no_cursor(dynamodb: Any) -> None:
    inventory = Inventory(dynamodb)
    for number in range(1, FLEET + 1):
        inventory.apply(snapshot(task(number, cluster="prod" if number % 3 else "dev"), second=number))
    for filters, expected in (
        ({}, FLEET),
        ({"cluster": "prod"}, sum(1 for n in range(1, FLEET + 1) if n % 3)),
    ):
        for limit in (1, 2, 3, 4, 5, 7, 16, 39, 40, 41):
            pages = _walk(inventory, filters, limit)
            listed = [task_id for page in pages for task_id in page]
            assert len(listed) == len(set(listed)) == expected, (filters, limit)
            assert all(len(page) == limit for page in pages[:-1]), (filters, limit, [len(p) for p in pages])
            assert 1 <= len(pages[-1]) <= limit, (filters, limit)  # no empty page behind a "more" hint
