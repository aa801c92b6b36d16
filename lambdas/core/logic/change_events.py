"""Change events out (issue 17 item 1): what one task's run of stream changes tells the world.

Pure: from the old and new image of each change of a task's run in a batch (core/logic/indexer.py
groups them), the events the change makes, each with an id that a replay reproduces (a hash of the
task's identity, the kind and the change's own stable facts: an address, a digest; never a time of
delivery). The schemas are in docs/events.md.

- ``Task First Seen``: the first write of the record (a stream INSERT: no old image).
- ``IP Released``: the task stops (first image that says STOPPED) holding addresses: one event per
  address, with the interval it was held (core.logic.indexing.active_span, the index's own rule).
- ``Task Stopped Abnormally``: the first image of a stopped task that says it stopped abnormally
  (``abnormal_reasons``); once per task, whatever later reports add.
- ``Task Drifted``: the first image whose drift verdict says drifted after one that did not (not
  drifted, or never judged); its id names the verdict (service revision and ``since``), so a task that
  drifts again later, from another revision, makes a new event.
- ``Image Digest First Seen``: a *candidate* for each digest the task gained; whether the
  organization ever ran it before is the digest registry's to say (core/store/digests.py), so the
  candidate becomes an event only for the task that claims the digest first.

A duplicate or replayed record derives the same events with the same ids, and a change that moves
none of these facts derives none. Suppressing what was already published is the publisher's part
(core/logic/publishing.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from core.logic.drift import is_drifted
from core.logic.indexing import active_span
from core.logic.lifecycle import is_stopped
from core.model import StreamChange, Task, TaskRecord

SOURCE: Final = "taskbeacon"
TASK_FIRST_SEEN: Final = "Task First Seen"
IMAGE_DIGEST_FIRST_SEEN: Final = "Image Digest First Seen"
IP_RELEASED: Final = "IP Released"
TASK_STOPPED_ABNORMALLY: Final = "Task Stopped Abnormally"
TASK_DRIFTED: Final = "Task Drifted"
KINDS: Final = (TASK_FIRST_SEEN, IMAGE_DIGEST_FIRST_SEEN, IP_RELEASED, TASK_STOPPED_ABNORMALLY, TASK_DRIFTED)
# Version of the detail's schema (docs/events.md): a consumer matches on it.
SCHEMA_VERSION: Final = 1

# ECS stop codes (TaskStopCode: EssentialContainerExited, InfrastructureHealth,
# ServiceSchedulerInitiated, SpotInterruption, TaskFailedToStart, TerminationNotice, UserInitiated;
# https://docs.aws.amazon.com/sdk-for-python/v4/reference/clients/ecs/enums/TaskStopCode/). A service
# scaling in or replacing a task is ServiceSchedulerInitiated: the one normal stop. An essential
# container that exited is judged by its exit code (0 is a task that finished its work).
NORMAL_STOP_CODE: Final = "ServiceSchedulerInitiated"
ESSENTIAL_CONTAINER_EXITED: Final = "EssentialContainerExited"
_OOM_MARK: Final = "OutOfMemory"
_OOM_EXIT_CODE: Final = 137


@dataclass(frozen=True)
class ChangeEvent:
    """One event to publish: EventBridge's DetailType, Resources, Time and Detail (with ``eventId``)."""

    id: str
    kind: str
    identity: str
    task_arn: str
    time: datetime
    detail: dict[str, Any]

    def entry(self, bus: str) -> dict[str, Any]:
        """The PutEvents entry (``Detail`` is compact JSON with sorted keys: the same bytes on replay)."""
        return {
            "Source": SOURCE,
            "DetailType": self.kind,
            "Resources": [self.task_arn],
            "Time": self.time,
            "Detail": json.dumps(self.detail, sort_keys=True, separators=(",", ":")),
            "EventBusName": bus,
        }


@dataclass(frozen=True)
class DigestCandidate:
    """A digest a task gained: the event it makes if the task is the first to claim it."""

    digest: str
    event: ChangeEvent


@dataclass(frozen=True)
class Derived:
    events: list[ChangeEvent] = field(default_factory=list)
    digests: list[DigestCandidate] = field(default_factory=list)


def event_id(*facts: str) -> str:
    """A stable id: SHA-256 of the facts joined (identity, kind, and the change's own facts)."""
    return hashlib.sha256("\x1f".join(facts).encode()).hexdigest()[:32]


def derive(run: Sequence[StreamChange], current: TaskRecord | None = None) -> Derived:
    """The events of one task's run of changes (stream order, none a removal).

    ``current`` (the record as it is now) is not what decides: each change is judged from its own
    images, so a replay reproduces it whatever happened since. It is accepted so callers pass what
    the indexer has, and a gone record (None) derives as well as a present one.
    """
    del current
    derived = Derived()
    seen: set[str] = set()
    for change in run:
        if change.new is None:
            continue
        for event in _change_events(change.identity, change.old, change.new):
            if event.id not in seen:
                seen.add(event.id)
                derived.events.append(event)
        for candidate in _digest_candidates(change.identity, change.old, change.new):
            if candidate.event.id not in seen:
                seen.add(candidate.event.id)
                derived.digests.append(candidate)
    return derived


def _change_events(identity: str, old: TaskRecord | None, new: TaskRecord) -> list[ChangeEvent]:
    task = new.task
    events: list[ChangeEvent] = []
    if old is None:
        events.append(
            _event(
                identity,
                TASK_FIRST_SEEN,
                task,
                task.first_seen_at or task.last_seen_at,
                {
                    "firstSeenAt": _time(task.first_seen_at or task.last_seen_at),
                    "lastStatus": task.last_status,
                    "source": task.last_source,
                    "images": sorted({c.image for c in task.containers if c.image and not c.internal}),
                },
            )
        )
    was_stopped = old is not None and is_stopped(old.task.last_status)
    if is_stopped(task.last_status) and not was_stopped:
        held_from, held_until = active_span(task)
        for ip, eni in sorted(addresses(task).items()):
            events.append(
                _event(
                    identity,
                    IP_RELEASED,
                    task,
                    held_until or held_from,
                    {"ip": ip, "eni": eni, "heldFrom": _time(held_from), "heldUntil": _time(held_until)},
                    ip,
                )
            )
    verdict = task.drift
    if verdict is not None and verdict.drifted and not (old is not None and is_drifted(old.task)):
        events.append(
            _event(
                identity,
                TASK_DRIFTED,
                task,
                verdict.since,
                {
                    "since": _time(verdict.since),
                    "serviceRevisionArn": verdict.service_revision_arn,
                    "serviceDeploymentArn": verdict.service_deployment_arn,
                    "expectedTaskDefinition": verdict.expected_task_definition,
                    "taskDefinitionDrifted": verdict.task_definition_drifted,
                    "containers": [c.model_dump(by_alias=True) for c in verdict.containers],
                    "source": verdict.source,
                },
                verdict.service_revision_arn,
                _time(verdict.since) or "",
            )
        )
    reasons = abnormal_reasons(task)
    if reasons and not (old is not None and abnormal_reasons(old.task)):
        events.append(
            _event(
                identity,
                TASK_STOPPED_ABNORMALLY,
                task,
                task.stopped_at or task.stopping_at or task.last_seen_at,
                {
                    "reasons": reasons,
                    "stopCode": task.stop_code,
                    "stoppedReason": task.stopped_reason,
                    "stoppedAt": _time(task.stopped_at),
                    "containers": [
                        {"name": c.name, "exitCode": c.exit_code, "reason": c.reason}
                        for c in task.containers
                        if not c.internal
                    ],
                },
            )
        )
    return events


def _digest_candidates(identity: str, old: TaskRecord | None, new: TaskRecord) -> list[DigestCandidate]:
    before = set(_digests(old.task)) if old is not None else set()
    candidates = []
    for digest, (container, image) in sorted(_digests(new.task).items()):
        if digest in before:
            continue
        task = new.task
        event = ChangeEvent(
            # One per digest in the organization: the id names the digest, not the task.
            id=event_id(IMAGE_DIGEST_FIRST_SEEN, digest),
            kind=IMAGE_DIGEST_FIRST_SEEN,
            identity=identity,
            task_arn=task.task_arn,
            time=_aware(task.last_seen_at or task.first_seen_at),
            detail={
                **_common(task),
                "eventId": event_id(IMAGE_DIGEST_FIRST_SEEN, digest),
                "imageDigest": digest,
                "image": image,
                "containerName": container,
                "firstSeenAt": _time(task.last_seen_at or task.first_seen_at),
            },
        )
        candidates.append(DigestCandidate(digest, event))
    return candidates


def addresses(task: Task) -> dict[str, str | None]:
    """Every address the task's containers hold (IPv4 and IPv6), with its ENI when known."""
    found: dict[str, str | None] = {}
    for container in task.containers:
        for network in container.networks:
            for ip in (*network.ipv4_addresses, *network.ipv6_addresses):
                if found.get(ip) is None:
                    found[ip] = network.eni
    return found


def abnormal_reasons(task: Task) -> list[str]:
    """Why a stopped task stopped abnormally (empty: it did not, or it is not stopped):
    ``OutOfMemory`` (a container's reason says OutOfMemory, or it exited 137 with an OOM reason),
    ``EssentialContainerExited`` (with a non-zero exit code), ``StopCode`` (any stop code but a
    service's own scale-in or replacement, and an essential container's exit)."""
    if not is_stopped(task.last_status):
        return []
    reasons: list[str] = []
    app = [c for c in task.containers if not c.internal]
    if any(_out_of_memory(c.reason, c.exit_code, task.stopped_reason) for c in app):
        reasons.append("OutOfMemory")
    essential_exit = task.stop_code == ESSENTIAL_CONTAINER_EXITED or (task.stopped_reason or "").startswith(
        "Essential container in task exited"
    )
    if essential_exit and any(c.exit_code not in (None, 0) for c in app):
        reasons.append("EssentialContainerExited")
    if task.stop_code and task.stop_code not in (NORMAL_STOP_CODE, ESSENTIAL_CONTAINER_EXITED):
        reasons.append("StopCode")
    return reasons


def _out_of_memory(reason: str | None, exit_code: int | None, stopped_reason: str | None) -> bool:
    """The container's reason says OutOfMemory, or it was killed (137) and the task's reason says so."""
    if _OOM_MARK.lower() in (reason or "").lower():
        return True
    return exit_code == _OOM_EXIT_CODE and _OOM_MARK.lower() in (stopped_reason or "").lower()


def _digests(task: Task) -> dict[str, tuple[str, str | None]]:
    """Each repository digest an app container runs: the container and image that first run it."""
    found: dict[str, tuple[str, str | None]] = {}
    for container in task.containers:
        if container.internal or not container.image_digest:
            continue
        found.setdefault(container.image_digest, (container.name, container.image))
    return found


def _event(
    identity: str, kind: str, task: Task, when: datetime | None, detail: dict[str, Any], *facts: str
) -> ChangeEvent:
    the_id = event_id(identity, kind, *facts)
    return ChangeEvent(
        id=the_id,
        kind=kind,
        identity=identity,
        task_arn=task.task_arn,
        time=_aware(when),
        detail={**_common(task), "eventId": the_id, **detail},
    )


def _common(task: Task) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "taskArn": task.task_arn,
        "taskId": task.task_id,
        "accountId": task.account_id,
        "region": task.region,
        "clusterArn": task.cluster_arn,
        "serviceName": task.service_name,
        "family": task.family,
        "revision": task.revision,
    }


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(value: datetime | None) -> str | None:
    return None if value is None else _aware(value).isoformat().replace("+00:00", "Z")
