"""Newer-wins merge of one observation into the stored record of a task (pure; no I/O).

Rules (DESIGN 3.3, docs/decisions.md "Newer wins"):
- Snapshots are ordered by (collectedAt, sequence, reporter); an older or repeated one changes nothing.
- Events are ordered by ``detail.version``; an older or repeated one changes nothing.
- A newer report overlays the fields it knows; a field it does not know (None/empty) keeps its
  stored value, so nothing ever regresses to "unknown".
- Events and the sweep's ECS API reads are AWS's word (DESIGN 3.9). They share ECS's own task
  ``version``, so an ECS API read of a version already stored writes nothing. They own the fields
  AWS owns: status and times, stop facts, exit codes, repository image digests, and the IPs and
  ENIs of awsvpc tasks; a later self-report never overrides those (``core.logic.provenance`` marks
  what it claims differently as unconfirmed). Agents own what they see inside the task (labels,
  container details); AWS's reports only fill those gaps once an agent has reported.
- A sweep that no longer finds a task the record holds as running closes it (reason ``vanished``).
- ``lastStatus``/``desiredStatus`` never move backwards along the ECS lifecycle.
- Drift is the sweep's verdict alone (``core.logic.drift``): an ECS API read that judged the task
  sets it, whatever the task's version (a deployment changes the verdict, not the task); every other
  report keeps the stored one, and the same verdict again changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.logic.drift import carried, same_verdict
from core.logic.lifecycle import STOPPED, is_stopped, later_status
from core.logic.provenance import confirmed_status, is_confirming, source_kind, with_provenance
from core.model import Container, Observation, Task, TaskRecord
from core.model.task import Drift
from core.model.time import timestamp
from core.vocabulary import ECS_API

# The reason of an ECS API observation that closes a task the sweep no longer finds.
VANISHED = "vanished"
# Facts that only AWS knows reliably; an agent's snapshot never clears them.
_EVENT_OWNED_TASK_FIELDS = ("stopped_reason", "stop_code", "stopping_at", "stopped_at")
# Times AWS owns: once AWS has stated the status, a self-report never changes them.
_AWS_OWNED_TIMES = ("started_at", "pull_started_at")
_STATUS_FIELDS = ("last_status", "desired_status")
_BOOKKEEPING = {
    "first_seen_at", "last_seen_at", "last_source", "reporters", "stale", "containers", "sources"
}  # fmt: skip
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
    if source_kind(observation.source) == ECS_API and observation.reason == VANISHED:
        return _close_vanished(current, observation, history_limit)
    if is_confirming(observation.source):
        version = observation.event_version if observation.event_version is not None else 0
        if current is not None and current.event_version is not None and version <= current.event_version:
            return _same_version(current, observation, now, history_limit)
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
    task = _confirmed_addresses(with_provenance(task, previous, incoming, observation.source))
    task = task.model_copy(update={"drift": _drift(previous, observation)})
    task = _with_bookkeeping(task, previous, observation, now)
    return _recorded(current, task, observation, history_limit, snapshot_key, event_version)


def _recorded(
    current: TaskRecord | None,
    task: Task,
    observation: Observation,
    history_limit: int,
    snapshot_key: str | None,
    event_version: int | None,
) -> TaskRecord:
    previous = current.task if current else None
    history = _append_history(current.history if current else (), previous, task, observation, history_limit)
    return TaskRecord(
        task=task,
        snapshot_key=snapshot_key,
        event_version=event_version,
        history=history,
        revision=(current.revision if current else 0) + 1,
        lease_until=current.lease_until if current else None,
        reindex_mark=current.reindex_mark if current else None,
    )


def _drift(previous: Task | None, observation: Observation) -> Drift | None:
    """The verdict the record keeps: only the sweep's ECS API reads judge drift."""
    judged = observation.task.drift if source_kind(observation.source) == ECS_API else None
    return carried(previous.drift if previous else None, judged)


def _confirmed_addresses(task: Task) -> Task:
    """awsvpc containers share the task's ENI: once AWS has stated its addresses, those are the
    addresses every awsvpc network shows (a container AWS's report did not name included); a
    self-reported one that differs stays under ``sources.unconfirmed``."""
    confirmed = task.sources.confirmed
    if not confirmed.ips:
        return task
    ipv4 = [ip for ip in confirmed.ips if ":" not in ip]
    ipv6 = [ip for ip in confirmed.ips if ":" in ip]
    containers = []
    for container in task.containers:
        networks = [
            network.model_copy(
                update={
                    "ipv4_addresses": ipv4,
                    # AWS states an IPv6 address only for dual-stack tasks; otherwise keep what was seen.
                    "ipv6_addresses": ipv6 or network.ipv6_addresses,
                }
            )
            if (network.network_mode or "").lower() == "awsvpc"
            else network
            for network in container.networks
        ]
        containers.append(container.model_copy(update={"networks": networks}))
    return task.model_copy(update={"containers": containers})


def _close_vanished(
    current: TaskRecord | None, observation: Observation, history_limit: int
) -> TaskRecord | None:
    """The sweep no longer finds a task held as running: it stopped unseen. Close it, with the
    sweep's reason and a stop time bounded by when it was last seen; anything else is a no-op."""
    if current is None or is_stopped(current.task.last_status):
        return None
    task = current.task
    stopped_at = observation.task.stopped_at or task.last_seen_at or observation.observed_at
    closed = task.model_copy(
        update={
            "last_status": STOPPED,
            "desired_status": STOPPED,
            "stopped_reason": observation.task.stopped_reason or task.stopped_reason,
            "stopped_at": stopped_at,
            "last_source": observation.source,
        }
    )
    # The sweep stated the status alone (no network, image, label or tag of this task).
    stated = Task(
        task_arn=task.task_arn,
        task_id=task.task_id,
        account_id=task.account_id,
        region=task.region,
        last_status=STOPPED,
    )
    closed = with_provenance(closed, task, stated, observation.source)
    return _recorded(current, closed, observation, history_limit, current.snapshot_key, current.event_version)


def _same_version(
    current: TaskRecord, observation: Observation, now: datetime, history_limit: int
) -> TaskRecord | None:
    """An AWS report of a version already stored states nothing new about the task, so it writes
    nothing, with two exceptions that each happen once per task: tags the record lacks (events carry
    none; DescribeTasks with include=TAGS does), and the first word of this source (an ECS API read of
    a task known from events adds ``ecs-api`` to its sources; then every later sweep writes nothing);
    and one that happens once per verdict: the sweep judged the task's drift otherwise than stored."""
    incoming = observation.task
    tags = incoming.tags if incoming.tags and not current.task.tags else {}
    task = current.task.model_copy(update={"tags": tags}) if tags else current.task
    stated = Task(
        task_arn=task.task_arn,
        task_id=task.task_id,
        account_id=task.account_id,
        region=task.region,
        last_status=incoming.last_status,
        tags=tags,
        containers=incoming.containers,
    )
    task = with_provenance(task, current.task, stated, observation.source)
    drift = _drift(current.task, observation)
    if not tags and task.sources == current.task.sources and same_verdict(current.task.drift, drift):
        return None
    task = task.model_copy(update={"drift": drift})
    task = _with_bookkeeping(task, current.task, observation, now)
    return _recorded(current, task, observation, history_limit, current.snapshot_key, current.event_version)


def same_content(before: TaskRecord, after: TaskRecord) -> bool:
    """True when ``after`` differs from ``before`` only in when the task was last seen, and by which
    source: a keepalive repeating the agent's snapshot after an event changes nothing else, so it
    takes the small keepalive item, not a rewrite of the record."""
    if before.history != after.history or before.event_version != after.event_version:
        return False
    seen = {"last_seen_at", "last_source"}
    return before.task.model_dump(exclude=seen) == after.task.model_dump(exclude=seen)


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
    aws_owned = _EVENT_OWNED_TASK_FIELDS + (_AWS_OWNED_TIMES if confirmed_status(base) else ())
    for name in aws_owned:
        if old.get(name) is not None:
            merged[name] = old[name]
    for name in _STATUS_FIELDS:
        merged[name] = later_status(old.get(name), incoming.model_dump().get(name))
    merged["containers"] = _merge_containers(
        base.containers,
        incoming.containers,
        event=False,
        keep_networks=bool(base.sources.confirmed.ips or base.sources.confirmed.enis),
    )
    return Task.model_validate(merged)


def _merge_event(base: Task | None, incoming: Task, *, agents_reported: bool) -> Task:
    """Until an agent has reported, a newer event is the best information; after that it fills gaps."""
    if base is None:
        return incoming
    old = base.model_dump()
    new = incoming.model_dump()
    merged = _overlay(old, new, only_gaps=agents_reported)
    for name in _EVENT_OWNED_TASK_FIELDS + _AWS_OWNED_TIMES:
        if new.get(name) is not None:
            merged[name] = new[name]
    for name in _STATUS_FIELDS:
        merged[name] = later_status(old.get(name), new.get(name))
    merged["containers"] = _merge_containers(
        base.containers, incoming.containers, event=True, only_gaps=agents_reported
    )
    return Task.model_validate(merged)


def _merge_containers(
    base: list[Container],
    incoming: list[Container],
    *,
    event: bool,
    only_gaps: bool = False,
    keep_networks: bool = False,
) -> list[dict[str, Any]]:
    """Match containers by name; AWS's report fills gaps and sets exit codes, repository digests and
    awsvpc network interfaces; a self-report never replaces networks or digests AWS stated."""
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
            if new.get("networks"):  # AWS states the task's ENI and its addresses
                merged["networks"] = new["networks"]
        else:
            for name in ("exit_code", "image_digest"):
                # A stored repository digest is AWS's (agents report the local image id instead).
                if old_dict.get(name) is not None and (new.get(name) is None or name == "image_digest"):
                    merged[name] = old_dict[name]
            if keep_networks and old_dict.get("networks"):
                merged["networks"] = old_dict["networks"]
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
    unconfirmed = task.sources.unconfirmed
    view["unconfirmed"] = sorted(
        {*unconfirmed.ips, *unconfirmed.enis, *unconfirmed.images, *unconfirmed.image_digests}
    )
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
    happened = _when_it_happened(changes, task, observation)
    entry = {
        "at": timestamp(happened),
        "source": observation.source,
        "reporter": observation.reporter,
        "changes": changes,
    }
    if happened != observation.observed_at:
        entry["observedAt"] = timestamp(observation.observed_at)
    return (*history, entry)[-limit:]


def _when_it_happened(changes: dict[str, Any], task: Task, observation: Observation) -> datetime:
    """A status change happened when ECS says it did (the task's start or stop), not when the report
    that revealed it arrived; anything else, or a time later than the report, at the report's time."""
    status = (changes.get("lastStatus") or {}).get("to")
    moment = {"RUNNING": task.started_at, STOPPED: task.stopped_at}.get(status) if status else None
    if moment is None:
        return observation.observed_at
    seen = observation.observed_at
    aware = moment if moment.tzinfo else moment.replace(tzinfo=seen.tzinfo)
    return aware if seen.tzinfo is None or aware <= seen else seen


__all__ = ["history_view", "merge", "same_content", "snapshot_order_key"]
