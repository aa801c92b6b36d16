"""One page from a sharded index partition: a k-way merge, newest first, reading near the page size.

Each shard is read in small chunks; an entry is emitted only when every shard that may still hold
a newer one has shown its next entry, so the merged order is exact. The cursor keeps, per shard,
the sort key of the last entry consumed (emitted or filtered out), or that the shard is done.

A page is full up to its limit unless the entries run out (or the read budget does, when filters
drop most of what is read), and it carries a cursor only when another kept entry exists: the page
looks one entry past its limit and leaves that entry for the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.store.index import IndexHit, IndexStore

DONE = ""  # a shard with nothing left (sort keys are never empty)


@dataclass(frozen=True)
class MergedPage:
    hits: list[IndexHit]
    positions: list[str | None] | None  # None: the query is complete
    items_read: int


def merged_page(
    index: IndexStore,
    partitions: list[str],
    *,
    positions: list[str | None] | None,
    limit: int,
    keep: Callable[[IndexHit], bool],
    read_budget: int,
    low: str | None = None,
    high: str | None = None,
    prefetch: Callable[[list[IndexHit]], None] | None = None,
) -> MergedPage:
    """``prefetch`` sees each chunk as it is read, before ``keep`` judges its entries: a filter that
    needs the tasks' records reads them a chunk at a time."""
    count = len(partitions)
    after: list[str | None] = list(positions) if positions is not None else [None] * count
    buffers: list[list[IndexHit]] = [[] for _ in range(count)]
    exhausted = [position == DONE for position in after]
    chunk = max(2, -(-limit // count) + 1)
    # The first chunk of every shard is needed to order the merge at all: it is not what the
    # budget guards against (filters that drop most of what is read).
    read_budget += count * chunk
    emitted: list[IndexHit] = []
    read = 0

    def fill(shard: int) -> None:
        nonlocal read
        newest_read = buffers[shard][-1].sort if buffers[shard] else after[shard]
        page = index.query_shard(partitions[shard], after=newest_read, limit=chunk, low=low, high=high)
        read += page.items_read
        if prefetch is not None and page.hits:
            prefetch(page.hits)
        buffers[shard].extend(page.hits)
        exhausted[shard] = page.exhausted

    while True:
        for shard in range(count):
            if not buffers[shard] and not exhausted[shard]:
                if read >= read_budget and emitted:
                    return MergedPage(emitted, _settled(after, buffers, exhausted), read)
                fill(shard)
        live = [shard for shard in range(count) if buffers[shard]]
        if not live:
            if all(exhausted):
                break
            continue
        if any(not buffers[s] and not exhausted[s] for s in range(count)):
            continue  # a shard came back empty but not done: read it again before choosing
        shard = max(live, key=lambda s: buffers[s][0].sort)
        hit = buffers[shard].pop(0)
        if keep(hit):
            if len(emitted) == limit:
                buffers[shard].insert(0, hit)  # one more exists: the next page starts with it
                return MergedPage(emitted, _settled(after, buffers, exhausted), read)
            emitted.append(hit)
            after[shard] = hit.sort
            continue
        after[shard] = hit.sort
        if read >= read_budget:  # bounded reads, even when filters drop everything: a cursor goes on
            return MergedPage(emitted, _settled(after, buffers, exhausted), read)
    return MergedPage(emitted, _settled(after, buffers, exhausted), read)


def _settled(
    after: list[str | None], buffers: list[list[IndexHit]], exhausted: list[bool]
) -> list[str | None] | None:
    """Positions for the next page, or None when every shard is consumed to its end."""
    positions = [DONE if exhausted[s] and not buffers[s] else after[s] for s in range(len(after))]
    return None if all(position == DONE for position in positions) else positions
