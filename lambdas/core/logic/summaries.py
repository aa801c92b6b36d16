"""``/summary`` and ``/coverage``, counted from the live entries' projections (pure).

Nothing is counted on the write path: every task not yet stopped has one live entry, which carries
its list fields, status, images and sources (core.logic.indexing ``live_projection``), so a count is
a read of that partition. See docs/decisions.md "Summaries on read".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from core.logic.indexing import IMAGES, SOURCES, STATUS
from core.logic.lifecycle import RUNNING
from core.store.coverage import Coverage
from core.vocabulary import SOURCE_KINDS


def _groups(projection: dict[str, str], by: str) -> list[str]:
    if by == "image":  # one group per image the task runs
        return [image for image in projection.get(IMAGES, "").split("\n") if image]
    value = projection.get(by)
    return [value] if value else []


def summary_groups(projections: Iterable[dict[str, str]], by: str) -> dict[str, Any]:
    """Tasks per group of ``by``: every task not yet stopped for ``status``, running tasks otherwise."""
    counts: Counter[str] = Counter()
    for projection in projections:
        if by != STATUS and projection.get(STATUS) != RUNNING:
            continue
        counts.update(_groups(projection, by))
    groups = sorted(counts.items(), key=lambda group: (-group[1], group[0]))
    return {
        "by": by,
        "groups": [{"group": name, "running": count} for name, count in groups],
        "total": sum(counts.values()),
    }


def coverage_rows(projections: Iterable[dict[str, str]], marks: Iterable[Coverage]) -> list[dict[str, Any]]:
    """Per account and region: tasks not yet stopped by each source that reported them, and when the
    sweep last read it and events last came from it."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(account_id: str, region: str) -> dict[str, Any]:
        return rows.setdefault(
            (account_id, region),
            {
                "accountId": account_id,
                "region": region,
                "tasks": dict.fromkeys(SOURCE_KINDS, 0),
                "lastSweptAt": None,
                "lastEventAt": None,
                "lastSweep": None,
            },
        )

    for projection in projections:
        sources = [s for s in projection.get(SOURCES, "").split(",") if s in SOURCE_KINDS]
        if not sources:
            continue
        tasks = row(projection.get("accountId", ""), projection.get("region", ""))["tasks"]
        for source in sources:
            tasks[source] += 1
    for mark in marks:
        entry = row(mark.account_id, mark.region)
        entry["lastSweptAt"], entry["lastEventAt"] = mark.last_swept_at, mark.last_event_at
        entry["lastSweep"] = mark.sweep or None
    return [rows[key] for key in sorted(rows)]
