"""Close what vanished: tasks the inventory holds as running in an account-region that ECS no longer knows.

ECS lists a task while it runs and for about an hour after it stops. A task the inventory holds
as not stopped, that none of the account-region's clusters lists (RUNNING or STOPPED), stopped
without a STOPPED event reaching taskbeacon (events not wired yet, or lost). It is closed with an
``ecs-api`` observation of reason ``vanished``: status STOPPED, a stop reason saying the sweep did
not find it, and a stop time bounded by when it was last seen (the merge applies it only to a
record still not stopped).

"What the inventory holds" is read with queries only (``QueryService.list_tasks`` on the
account's index, filtered to the region); never a Scan. A task first seen after the unit began,
or seen again after the listing began, is left alone: the listing may simply predate it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from core.model.task import Observation, Task
from core.normalize.ecs_api import REPORTER, SOURCE

log = logging.getLogger("taskbeacon.sweep")

VANISHED = "vanished"  # the reason the merge closes a record by (core.logic.merge)
PAGE = 500  # the list API's largest page


def stop_reason(at: datetime) -> str:
    moment = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"Not found by the taskbeacon sweep at {moment}: ECS no longer knows this task "
        "(it stopped without a STOPPED event reaching taskbeacon)"
    )


def vanished_observation(task: Task, *, at: datetime) -> Observation:
    """The closing observation of a stored task: stopped, no later than it was last seen."""
    closed = task.model_copy(
        update={
            "last_status": "STOPPED",
            "desired_status": "STOPPED",
            "stopped_reason": stop_reason(at),
            "stopped_at": task.last_seen_at,
            "stop_code": None,
        }
    )
    return Observation(
        task=closed, source=SOURCE, observed_at=at, event_version=None, reason=VANISHED, reporter=REPORTER
    )


def held_running(query: Any, account: str, region: str) -> Iterator[Task]:
    """Every task the inventory holds as not stopped in ``account``/``region`` (all pages)."""
    cursor: str | None = None
    while True:
        page = query.list_tasks(
            {"accountId": account, "region": region}, since=None, limit=PAGE, cursor=cursor
        )
        for document in page.items:
            if document.get("lastStatus") == "STOPPED":
                continue
            task = Task.model_validate(document)
            if task.account_id == account and task.region == region:
                yield task
        cursor = page.next_cursor
        if not cursor:
            return


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def vanished(
    query: Any,
    account: str,
    region: str,
    known: set[str],
    *,
    unit_started_at: datetime,
    listed_from: datetime,
) -> Iterator[Task]:
    """Tasks held as running that ECS did not list, and that nothing reported since the sweep began."""
    for task in held_running(query, account, region):
        if task.task_arn in known:
            continue
        first_seen, last_seen = _aware(task.first_seen_at), _aware(task.last_seen_at)
        if first_seen is not None and first_seen >= unit_started_at:
            continue  # first reported after the unit began: the listing may predate it
        if last_seen is not None and last_seen >= listed_from:
            continue  # reported while the listing ran: alive, or at least not provably gone
        yield task


__all__ = ["VANISHED", "held_running", "stop_reason", "vanished", "vanished_observation"]
