"""Which index entries a task has (pure; no I/O).

A task has one index entry per searchable value (a kind and a value), so every list and search
reads the entries of one value; where they live (partitions, shards, sort keys) is core/store/index.py's
to say. Every entry is
written once: what it carries (its projection) is what does not change in a task's life, and it
expires with the task's lease (core.logic.lease), so a stop rewrites none of them. The one entry
that follows the task is ``live``: it carries status, images and sources, and ``/summary`` and
``/coverage`` are computed from it. See docs/decisions.md "Table and key design".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.logic.drift import is_drifted
from core.logic.images import entry_names, parse
from core.logic.lifecycle import is_stopped
from core.model import Task, WantedEntry
from core.store.index import ACTIVE_DAY
from core.vocabulary import CONFIRMABLE_SEARCHES, FACT_GROUPS, LIST_FILTERS

ALL = "all"
# A task's bare id, for GET /tasks/{taskId} without an ARN (ids are unique per account and region only).
TASK_ID_KIND = "taskId"
# The cluster filter given as a short name rather than an ARN.
CLUSTER_NAME_KIND = "clusterName"
# Time entries: every task not yet stopped is in ``live``; a stopped task has one ``activeDay``
# entry (core.store.index.ACTIVE_DAY) per UTC day it was active (the last ``MAX_ACTIVE_DAYS``),
# with its start and stop, so "running at T" reads the live partition and the day of T.
# See docs/decisions.md "Across time".
LIVE_KIND = "live"
MAX_ACTIVE_DAYS = 40
# Tasks drifted from their service's current deployment (core.logic.drift), while not stopped: one
# sharded partition, so `GET /tasks?drifted=true` and the drifted summary read O(drifted) entries.
# The entry follows the verdict: put when the task drifts, deleted when it no longer is or stops.
DRIFTED_KIND = "drifted"
DRIFTED_VALUE = "true"

# Past this many entries the least selective (labels, then tags) are not indexed, and the record
# says so: a task with hundreds of labels must not cost hundreds of writes.
MAX_INDEX_ENTRIES = 40
# Keys are limited to 2048 bytes; a value longer than this is not indexed (never truncated, which
# would make it match the wrong thing).
MAX_INDEXED_VALUE_BYTES = 1024
# Labels ECS itself sets duplicate task fields that already have indexes.
_ECS_LABEL_PREFIX = "com.amazonaws.ecs."
# The live entry's projection keys beside the list fields (docs/decisions.md "Summaries on read").
STATUS = "status"
# List filters answered from the ``all`` partition's projection rather than entries of their own:
# few values each, so the over-read is bounded, and three fewer writes a launch.
PROJECTED_FILTERS = frozenset({"region", "launchType", "availabilityZone"})
# Status changes in a task's life: it is the live entry's (running tasks) or the record's to say.
# A cluster's entries are keyed by its name (``clusterName``); an ARN filter reads the name's
# partition and compares the ARN in the projection: one entry a task, not two.
_FILTERS_WITHOUT_ENTRIES = PROJECTED_FILTERS | {STATUS, "cluster"}


def cluster_name_of(cluster: str) -> str:
    """A cluster's name, from its ARN (``arn:...:cluster/<name>``) or as given."""
    return cluster.rsplit("/", 1)[-1] if cluster.startswith("arn:") else cluster


IMAGES = "images"
SOURCES = "sources"


@dataclass(frozen=True, order=True)
class IndexEntry:
    kind: str
    value: str
    # What the entry stands for when its value is derived (an image's canonical name, a digest's
    # prefix): the value as the task stated it. Not part of the entry's identity.
    stated: str | None = field(default=None, compare=False)


def projection(task: Task) -> dict[str, str]:
    """The small copy of list fields each index entry carries, so filters need no extra read. Only
    what a task keeps for life: an entry is never rewritten when the task changes."""
    values = {
        "taskArn": task.task_arn,
        "cluster": task.cluster_arn,
        "clusterName": task.cluster_name,
        "service": task.service_name,
        "family": task.family,
        "launchType": task.launch_type,
        "availabilityZone": task.availability_zone,
        "accountId": task.account_id,
        "region": task.region,
    }
    return {name: value for name, value in values.items() if value}


def live_projection(task: Task) -> dict[str, str]:
    """The live entry's projection: the list fields, and what ``/summary`` and ``/coverage`` group
    running tasks by (status, images, the sources that reported it)."""
    shown = projection(task)
    if task.last_status:
        shown[STATUS] = task.last_status
    images = sorted({c.image for c in task.containers if c.image and not c.internal})
    if images:
        shown[IMAGES] = "\n".join(images)
    sources = sorted({s for group in FACT_GROUPS for s in getattr(task.sources, group)})
    if sources:
        shown[SOURCES] = ",".join(sources)
    return shown


def list_values(task: Task) -> dict[str, str | None]:
    """The value of each list filter of GET /tasks for this task."""
    values: dict[str, str | None] = {
        "cluster": task.cluster_arn,
        "service": task.service_name,
        "family": task.family,
        "availabilityZone": task.availability_zone,
        "launchType": task.launch_type,
        "status": task.last_status,
        "accountId": task.account_id,
        "region": task.region,
    }
    assert tuple(values) == LIST_FILTERS  # one vocabulary: a new filter must be indexed here
    return values


# Kinds whose values AWS may confirm (DESIGN 3.9), by the Facts field holding them; whether it did
# is read from the record (confirmation comes later than the entry, which is written once).
CONFIRMABLE_KINDS = {"ip": "ips", "eni": "enis", "image": "images", "imageDigest": "image_digests"}
assert set(CONFIRMABLE_KINDS) == set(CONFIRMABLE_SEARCHES)  # one vocabulary


# Digests are found by a prefix of 12+ hex characters (as tables show them): entries live in the
# partition of the digest's first 12 hex characters and carry the full digest to compare.
DIGEST_PREFIX_HEX = 12
DIGEST = "digest"  # the projection key holding the full digest
IMAGE = "image"  # the projection key of an image entry holding the full reference (core.logic.images)


def digest_partition_value(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:DIGEST_PREFIX_HEX]}"


def _image_entries(image: str) -> list[IndexEntry]:
    return [IndexEntry("image", name, stated=image) for name in entry_names(image)]


def _digest_entry(digest: str) -> IndexEntry:
    return IndexEntry("imageDigest", digest_partition_value(digest), stated=digest)


def index_entries(task: Task) -> tuple[list[IndexEntry], bool]:
    """Every entry the task should have, in priority order, and whether some were left out.

    Self-reported values AWS contradicted are not in the task's containers any more (AWS's are), but
    they stay searchable, marked unconfirmed (``sources.unconfirmed``)."""
    entries: list[IndexEntry] = [IndexEntry(ALL, ALL), IndexEntry(TASK_ID_KIND, task.task_id)]
    entries += [
        IndexEntry(kind, value)
        for kind, value in list_values(task).items()
        if value and kind not in _FILTERS_WITHOUT_ENTRIES
    ]
    cluster_name = task.cluster_name or (task.cluster_arn and cluster_name_of(task.cluster_arn))
    if cluster_name:
        entries.append(IndexEntry(CLUSTER_NAME_KIND, cluster_name))
    search: list[IndexEntry] = []
    for container in task.containers:
        for network in container.networks:
            search += [IndexEntry("ip", ip) for ip in (*network.ipv4_addresses, *network.ipv6_addresses)]
            if network.eni:
                search.append(IndexEntry("eni", network.eni))
        if container.internal:
            continue  # pause and volume containers: ECS's own, the same in every task; not searched for
        if container.docker_id:
            search.append(IndexEntry("dockerId", container.docker_id))
        if container.image_digest:
            search.append(_digest_entry(container.image_digest))
        if container.image:
            search += _image_entries(container.image)
        search.append(IndexEntry("containerName", container.name))
    unconfirmed = task.sources.unconfirmed
    search += [IndexEntry("ip", ip) for ip in unconfirmed.ips]
    search += [IndexEntry("eni", eni) for eni in unconfirmed.enis]
    search += [_digest_entry(digest) for digest in unconfirmed.image_digests]
    search += [entry for image in unconfirmed.images for entry in _image_entries(image)]
    search += [IndexEntry("tag", f"{k}={v}") for k, v in sorted(task.tags.items())]
    for container in task.containers:
        search += [
            IndexEntry("label", f"{k}={v}")
            for k, v in sorted(container.labels.items())
            if not k.startswith(_ECS_LABEL_PREFIX)
        ]
    unique: list[IndexEntry] = []
    seen: set[IndexEntry] = set()
    for entry in entries + search:
        if entry in seen or len(entry.value.encode()) > MAX_INDEXED_VALUE_BYTES:
            continue
        seen.add(entry)
        unique.append(entry)
    return unique[:MAX_INDEX_ENTRIES], len(unique) > MAX_INDEX_ENTRIES


def active_span(task: Task) -> tuple[datetime, datetime | None]:
    """When the task was active: from its own start (ECS's or the metadata's; first sight only when
    no source said) to its stop (None: still active). A task that ran for days before taskbeacon saw
    it is active, and holds its IPs, since it started. (The export's queries use the same rule.)"""
    start = task.started_at or task.first_seen_at or task.last_seen_at or datetime(1970, 1, 1, tzinfo=UTC)
    if not is_stopped(task.last_status):
        return start, None
    return start, task.stopped_at or task.stopping_at or task.last_seen_at or start


def time_entries(task: Task) -> list[IndexEntry]:
    start, end = active_span(task)
    if end is None:
        return [IndexEntry(LIVE_KIND, ALL)]
    first = max(_utc(start).date(), _utc(end).date() - timedelta(days=MAX_ACTIVE_DAYS - 1))
    days = (_utc(end).date() - first).days + 1
    return [IndexEntry(ACTIVE_DAY, (first + timedelta(days=n)).isoformat()) for n in range(max(days, 1))]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def wanted_entries(task: Task) -> list[WantedEntry]:
    """Every entry the task wants, with what each carries and the time it is ordered by; where each
    lives is the store's to say (core/store/index.py ``placed``)."""
    first_seen: datetime = task.first_seen_at or task.last_seen_at or datetime(1970, 1, 1)
    shown = projection(task)
    start, end = active_span(task)
    wanted: list[WantedEntry] = []
    # Time entries are ordered by the start, so "running at T" reads only tasks started by T; the
    # day entries, written at the stop, carry it.
    for entry in time_entries(task):
        live = entry.kind == LIVE_KIND
        wanted.append(
            WantedEntry(
                entry.kind,
                entry.value,
                ordered_at=start,
                projection=live_projection(task) if live else shown,
                held_from=start,
                held_until=None if live else end,
            )
        )
    if end is None and is_drifted(task):
        # Ordered by the start, like the live entry, so a window's end bounds it the same way.
        wanted.append(
            WantedEntry(DRIFTED_KIND, DRIFTED_VALUE, ordered_at=start, projection=shown, held_from=start)
        )
    entries, _ = index_entries(task)
    for entry in entries:
        # An address is held for the task's life (awsvpc ENIs and bridge IPs go with the task): when
        # from and until are the record's to say (ECS states the start after the agent did, and the
        # stop comes later), so the entry carries neither and is never re-keyed.
        extra: dict[str, str] = {}
        if entry.kind == "imageDigest" and entry.stated:
            extra[DIGEST] = entry.stated
        elif entry.kind == "image" and entry.stated:
            extra[IMAGE] = parse(entry.stated).canonical
        projected = {**shown, **extra}
        wanted.append(WantedEntry(entry.kind, entry.value, ordered_at=first_seen, projection=projected))
    return wanted
