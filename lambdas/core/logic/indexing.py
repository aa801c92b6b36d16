"""Which index entries and summary counters a task contributes (pure; no I/O).

Index entries are items ``IX#<kind>#<value>#<shard>`` / ``<firstSeenAt>#<identity>``, one per
searchable value, so every list and search is a ``Query`` per shard of one value. Summary counters
are items ``SUM#<dimension>#<shard>`` / ``<group>`` holding the number of running tasks, so
``/summary`` reads one item per group and shard. See docs/decisions.md "Table and key design".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.logic.images import index_names
from core.logic.lifecycle import RUNNING, is_stopped
from core.model import IndexItem, Task
from core.store import keys
from core.vocabulary import CONFIRMABLE_SEARCHES, COVERAGE_DIMENSION, FACT_GROUPS, LIST_FILTERS

ALL = "all"
# A task's bare id, for GET /tasks/{taskId} without an ARN (ids are unique per account and region only).
TASK_ID_KIND = "taskId"
# The cluster filter given as a short name rather than an ARN.
CLUSTER_NAME_KIND = "clusterName"
# Time entries: every task not yet stopped is in ``live``; a stopped task is in one ``activeDay``
# partition per UTC day it was active (the last ``MAX_ACTIVE_DAYS``), with its start and stop, so
# "running at T" reads the live partition and the day of T. See docs/decisions.md "Across time".
LIVE_KIND = "live"
MAX_ACTIVE_DAYS = 40

# Past this many entries the least selective (labels, then tags) are not indexed, and the record
# says so: a task with hundreds of labels must not cost hundreds of writes.
MAX_INDEX_ENTRIES = 40
# Keys are limited to 2048 bytes; a value longer than this is not indexed (never truncated, which
# would make it match the wrong thing).
MAX_INDEXED_VALUE_BYTES = 1024
# Labels ECS itself sets duplicate task fields that already have indexes.
_ECS_LABEL_PREFIX = "com.amazonaws.ecs."
_COUNTED_DIMENSIONS = ("cluster", "service", "family", "availabilityZone", "launchType", "accountId")


@dataclass(frozen=True, order=True)
class IndexEntry:
    kind: str
    value: str
    # What the entry stands for when its value is derived (an image's canonical name, a digest's
    # prefix): the value as the task stated it. Not part of the entry's identity.
    stated: str | None = field(default=None, compare=False)


def projection(task: Task) -> dict[str, str]:
    """The small copy of list fields each index entry carries, so filters need no extra read."""
    values = {
        "taskArn": task.task_arn,
        "status": task.last_status,
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


# Kinds whose values AWS may confirm (DESIGN 3.9), by the Facts field holding them; their entries
# say whether it did.
CONFIRMABLE_KINDS = {"ip": "ips", "eni": "enis", "image": "images", "imageDigest": "image_digests"}
assert set(CONFIRMABLE_KINDS) == set(CONFIRMABLE_SEARCHES)  # one vocabulary
CONFIRMED = "confirmed"  # the projection key `GET /search?confirmed=true` filters on ("1" / "0")


# Digests are found by a prefix of 12+ hex characters (as tables show them): entries live in the
# partition of the digest's first 12 hex characters and carry the full digest to compare.
DIGEST_PREFIX_HEX = 12
DIGEST = "digest"  # the projection key holding the full digest


def digest_partition_value(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:DIGEST_PREFIX_HEX]}"


def _image_entries(image: str) -> list[IndexEntry]:
    return [IndexEntry("image", name, stated=image) for name in index_names(image)]


def _digest_entry(digest: str) -> IndexEntry:
    return IndexEntry("imageDigest", digest_partition_value(digest), stated=digest)


def _confirmation(task: Task, entry: IndexEntry) -> str:
    facts = getattr(task.sources.confirmed, CONFIRMABLE_KINDS[entry.kind])
    return "1" if (entry.stated or entry.value) in facts else "0"


def index_entries(task: Task) -> tuple[list[IndexEntry], bool]:
    """Every entry the task should have, in priority order, and whether some were left out.

    Self-reported values AWS contradicted are not in the task's containers any more (AWS's are), but
    they stay searchable, marked unconfirmed (``sources.unconfirmed``)."""
    entries: list[IndexEntry] = [IndexEntry(ALL, ALL), IndexEntry(TASK_ID_KIND, task.task_id)]
    entries += [IndexEntry(kind, value) for kind, value in list_values(task).items() if value]
    if task.cluster_name:
        entries.append(IndexEntry(CLUSTER_NAME_KIND, task.cluster_name))
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
    return [
        IndexEntry(keys.active_day_kind((first + timedelta(days=n)).isoformat()), ALL)
        for n in range(max(days, 1))
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def index_items(task: Task, identity: str, expires_at: int | None) -> dict[str, IndexItem]:
    """The stored entries of a task, by reference ("pk<TAB>sk")."""
    first_seen: datetime = task.first_seen_at or task.last_seen_at or datetime(1970, 1, 1)
    sort = keys.index_sort(first_seen, identity)
    shown = projection(task)
    start, end = active_span(task)
    held_from = keys.timestamp(start)
    held_until = keys.timestamp(task.stopped_at) if task.stopped_at else None
    active_from, active_until = keys.timestamp(start), keys.timestamp(end) if end else None
    items: dict[str, IndexItem] = {}
    # Time entries sort by the start, so "running at T" reads only tasks started by T.
    by_start = keys.index_sort(start, identity)
    for entry in time_entries(task):
        partition = keys.index_partition(entry.kind, entry.value, keys.index_shard(entry.kind, identity))
        item = IndexItem(partition, by_start, identity, shown, active_from, active_until, expires_at)
        items[item.ref] = item
    entries, _ = index_entries(task)
    for entry in entries:
        partition = keys.index_partition(entry.kind, entry.value, keys.index_shard(entry.kind, identity))
        # An address is held for the task's life (awsvpc ENIs and bridge IPs go with the task), from
        # the task's own start: its entries sort by it, so "who had it at T" reads starts up to T.
        ip = entry.kind == "ip"
        extra = {CONFIRMED: _confirmation(task, entry)} if entry.kind in CONFIRMABLE_KINDS else {}
        if entry.kind == "imageDigest" and entry.stated:
            extra[DIGEST] = entry.stated
        item = IndexItem(
            partition=partition,
            sort=by_start if ip else sort,
            identity=identity,
            projection={**shown, **extra},
            held_from=held_from if ip else None,
            held_until=held_until if ip else None,
            expires_at=expires_at,
        )
        items[item.ref] = item
    return items


def summary_contributions(task: Task) -> frozenset[tuple[str, str]]:
    """The (dimension, group) counters this task adds one to while it runs.

    ``status`` and ``coverage`` count every task not yet stopped; the others count running tasks.
    """
    if is_stopped(task.last_status) or not task.last_status:
        return frozenset()
    contributions = {("status", task.last_status)}
    if task.last_status == RUNNING:
        values = list_values(task)
        for dimension in _COUNTED_DIMENSIONS:
            value = values.get(dimension)
            if value:
                contributions.add((dimension, value))
        for image in {c.image for c in task.containers if c.image and not c.internal}:
            contributions.add(("image", image))
    # Coverage: every task not yet stopped, once per source that reported it.
    for source in sorted({s for group in FACT_GROUPS for s in getattr(task.sources, group)}):
        contributions.add((COVERAGE_DIMENSION, f"{task.account_id}#{task.region}#{source}"))
    return frozenset((d, v) for d, v in contributions if len(v.encode()) <= MAX_INDEXED_VALUE_BYTES)
