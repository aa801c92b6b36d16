"""Newer-wins merge of one observation into the stored record of a task (pure; no I/O).

Rules (DESIGN 3.3, docs/decisions.md "Newer wins"):
- Snapshots are ordered by (collectedAt, sequence, reporter); an older or repeated one changes nothing.
- Events are ordered by ``detail.version``; an older or repeated one changes nothing.
- A newer report overlays the fields it knows; a field it does not know (None/empty) keeps its
  stored value, so nothing ever regresses to "unknown".
- Events own the stop facts (stoppedReason, stopCode, exit codes, repository imageDigest); agents
  never erase them. Agents own what they see inside the task; events only fill its gaps.
- ``lastStatus``/``desiredStatus`` never move backwards along the ECS lifecycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.logic.lifecycle import later_status
from core.model import Container, Observation, Task, TaskRecord
from core.store.keys import timestamp

# Facts that only EventBridge knows reliably; an agent's snapshot never clears them.
_EVENT_OWNED_TASK_FIELDS = ("stopped_reason", "stop_code", "stopping_at", "stopped_at")
_STATUS_FIELDS = ("last_status", "desired_status")
_BOOKKEEPING = {"first_seen_at", "last_seen_at", "last_source", "reporters", "stale", "containers"}
_TRACKED_FOR_HISTORY = ("lastStatus", "desiredStatus", "healthStatus", "stoppedReason", "stopCode")


def snapshot_order_key(observation: Observation) -> str:
    """Sortable key: collectedAt (UTC, microseconds), then sequence, then reporter as tie-break."""
    # Fixed widths, so text order is time order: the year padded, sequence to int64's 19 digits.
    return f"{timestamp(observation.observed_at)}#{observation.sequence:019d}#{observation.reporter or ''}"


def merge(
    current: TaskRecord | None,
    observation: Observation,
    *,
    now: datetime,
    history_limit: int,
    newest_snapshot_key: str | None = None,
) -> TaskRecord | None:
    """The record after applying ``observation``, or None when it is not newer than what is stored.

    ``newest_snapshot_key`` is the newest snapshot accepted for the task, which may be newer than
    the record's own (a keepalive moves only the keepalive item).
    """
    incoming = observation.task
    if observation.source == "event":
        version = observation.event_version if observation.event_version is not None else 0
        if current is not None and current.event_version is not None and version <= current.event_version:
            return None
        base = current.task if current is not None else None
        agents_reported = current is not None and current.snapshot_key is not None
        task = _merge_event(base, incoming, agents_reported=agents_reported)
        snapshot_key = current.snapshot_key if current else None
        event_version: int | None = version
    else:
        key = snapshot_order_key(observation)
        newest = max(
            filter(None, (newest_snapshot_key, current.snapshot_key if current else None)), default=None
        )
        if newest is not None and key <= newest:
            return None
        task = _merge_snapshot(current.task if current else None, incoming)
        snapshot_key = key
        event_version = current.event_version if current else None

    previous = current.task if current else None
    task = _with_bookkeeping(task, previous, observation, now)
    history = _append_history(current.history if current else (), previous, task, observation, history_limit)
    return TaskRecord(
        task=task,
        snapshot_key=snapshot_key,
        event_version=event_version,
        history=history,
        revision=(current.revision if current else 0) + 1,
    )


def same_content(before: TaskRecord, after: TaskRecord) -> bool:
    """True when ``after`` differs from ``before`` only in when the task was last seen."""
    if before.history != after.history or before.event_version != after.event_version:
        return False
    return before.task.model_dump(exclude={"last_seen_at"}) == after.task.model_dump(exclude={"last_seen_at"})


def _overlay(base: dict[str, Any], incoming: dict[str, Any], *, only_gaps: bool) -> dict[str, Any]:
    merged = dict(base)
    for name, value in incoming.items():
        if name in _BOOKKEEPING or value is None or value in ({}, []):
            continue
        if only_gaps and merged.get(name) not in (None, {}, []):
            continue
        merged[name] = value
    return merged


def _merge_snapshot(base: Task | None, incoming: Task) -> Task:
    if base is None:
        return incoming
    old = base.model_dump()
    merged = _overlay(old, incoming.model_dump(), only_gaps=False)
    for name in _EVENT_OWNED_TASK_FIELDS:
        if old.get(name) is not None:
            merged[name] = old[name]
    for name in _STATUS_FIELDS:
        merged[name] = later_status(old.get(name), incoming.model_dump().get(name))
    merged["containers"] = _merge_containers(base.containers, incoming.containers, event=False)
    return Task.model_validate(merged)


def _merge_event(base: Task | None, incoming: Task, *, agents_reported: bool) -> Task:
    """Until an agent has reported, a newer event is the best information; after that it fills gaps."""
    if base is None:
        return incoming
    old = base.model_dump()
    new = incoming.model_dump()
    merged = _overlay(old, new, only_gaps=agents_reported)
    for name in _EVENT_OWNED_TASK_FIELDS:
        if new.get(name) is not None:
            merged[name] = new[name]
    for name in _STATUS_FIELDS:
        merged[name] = later_status(old.get(name), new.get(name))
    merged["containers"] = _merge_containers(
        base.containers, incoming.containers, event=True, only_gaps=agents_reported
    )
    return Task.model_validate(merged)


def _merge_containers(
    base: list[Container], incoming: list[Container], *, event: bool, only_gaps: bool = False
) -> list[dict[str, Any]]:
    """Match containers by name; an event fills gaps and adds exit codes and repository digests."""
    by_name = {c.name: c for c in base}
    # Containers never leave a task, and some sources describe only one: keep the union.
    result: dict[str, dict[str, Any]] = {c.name: c.model_dump() for c in base}
    for container in incoming:
        old = by_name.get(container.name)
        new = container.model_dump()
        if old is None:
            result[container.name] = new
            continue
        old_dict = old.model_dump()
        merged = _overlay(old_dict, new, only_gaps=only_gaps)
        if event:
            for name in ("exit_code", "image_digest"):
                if new.get(name) is not None:
                    merged[name] = new[name]
        else:
            for name in ("exit_code", "image_digest"):
                if old_dict.get(name) is not None and new.get(name) is None:
                    merged[name] = old_dict[name]
        merged["last_status"] = later_status(old_dict.get("last_status"), new.get("last_status"))
        result[container.name] = merged
    return [result[name] for name in sorted(result)]


def _with_bookkeeping(task: Task, previous: Task | None, observation: Observation, now: datetime) -> Task:
    reporter = observation.reporter or observation.source
    reporters = list(previous.reporters) if previous else []
    if reporter not in reporters:
        reporters = [*reporters, reporter][-10:]  # bounded: a task restarts its agents rarely
    last_seen = observation.observed_at
    if previous is not None and previous.last_seen_at is not None and previous.last_seen_at > last_seen:
        last_seen = previous.last_seen_at
    return task.model_copy(
        update={
            "first_seen_at": previous.first_seen_at if previous and previous.first_seen_at else now,
            "last_seen_at": last_seen,
            "last_source": observation.source,
            "reporters": reporters,
            "stale": False,
        }
    )


def history_view(task: Task) -> dict[str, Any]:
    """The fields whose changes are worth a history entry."""
    wire = task.model_dump(by_alias=True, mode="json")
    view = {name: wire.get(name) for name in _TRACKED_FOR_HISTORY}
    view["ips"] = sorted(
        {ip for c in task.containers for n in c.networks for ip in (*n.ipv4_addresses, *n.ipv6_addresses)}
    )
    view["images"] = sorted({c.image for c in task.containers if c.image and not c.internal})
    view["health"] = sorted(f"{c.name}={c.health_status}" for c in task.containers if c.health_status)
    return view


def _append_history(
    history: tuple[dict[str, Any], ...],
    previous: Task | None,
    task: Task,
    observation: Observation,
    limit: int,
) -> tuple[dict[str, Any], ...]:
    before = history_view(previous) if previous else {}
    after = history_view(task)
    changes = {
        name: {"from": before.get(name), "to": value}
        for name, value in after.items()
        if before.get(name) != value and value not in (None, [])
    }
    if not changes:
        return history
    entry = {
        "at": timestamp(observation.observed_at),
        "source": observation.source,
        "reporter": observation.reporter,
        "changes": changes,
    }
    return (*history, entry)[-limit:]


__all__ = ["history_view", "merge", "same_content", "snapshot_order_key"]
