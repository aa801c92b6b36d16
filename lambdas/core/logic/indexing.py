"""Which index entries and summary counters a task contributes (pure; no I/O).

Index entries are items ``IX#<kind>#<value>`` / ``<firstSeenAt>#<taskId>`` in the table, one per
searchable value, so every list and search is a single ``Query`` on one partition. Summary
counters are items ``SUM#<dimension>`` / ``<value>`` holding the number of running tasks, so
``/summary`` reads one item per group. See docs/decisions.md "Table and key design".
"""

from __future__ import annotations

from dataclasses import dataclass

from core.logic.lifecycle import RUNNING, is_stopped
from core.model import Task

# Filters of GET /tasks, in the order tried when several are given: most selective first.
LIST_DIMENSIONS: tuple[str, ...] = (
    "cluster",
    "service",
    "family",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
    "region",
)
SEARCH_KINDS: tuple[str, ...] = (
    "ip",
    "eni",
    "dockerId",
    "imageDigest",
    "image",
    "containerName",
    "tag",
    "label",
)
SUMMARY_DIMENSIONS: tuple[str, ...] = (
    "cluster",
    "service",
    "family",
    "image",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
)
ALL = "all"

# One TransactWriteItems holds at most 100 items; the record, its counters and the index changes
# must fit into one so a write is all-or-nothing. Past this many entries the least selective
# (labels, then tags) are not indexed, and the record says so (``indexTruncated``).
MAX_INDEX_ENTRIES = 40
# Keys are limited to 2048 bytes; a value longer than this is not indexed (never truncated, which
# would make it match the wrong thing).
MAX_INDEXED_VALUE_BYTES = 1024
# Labels ECS itself sets duplicate task fields that already have indexes.
_ECS_LABEL_PREFIX = "com.amazonaws.ecs."


@dataclass(frozen=True, order=True)
class IndexEntry:
    kind: str
    value: str


def projection(task: Task) -> dict[str, str]:
    """The small copy of list fields each index entry carries, so filters need no extra read."""
    values = {
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
    """The value of each list dimension, as its filter parameter names it."""
    return {
        "cluster": task.cluster_arn,
        "service": task.service_name,
        "family": task.family,
        "availabilityZone": task.availability_zone,
        "launchType": task.launch_type,
        "status": task.last_status,
        "accountId": task.account_id,
        "region": task.region,
    }


def index_entries(task: Task) -> tuple[list[IndexEntry], bool]:
    """Every entry the task should have, in priority order, and whether some were left out."""
    entries: list[IndexEntry] = [IndexEntry(ALL, ALL)]
    entries += [IndexEntry(kind, value) for kind, value in list_values(task).items() if value]
    if task.cluster_name:
        entries.append(IndexEntry("clusterName", task.cluster_name))  # `cluster` filter given as a short name
    search: list[IndexEntry] = []
    for container in task.containers:
        for network in container.networks:
            search += [IndexEntry("ip", ip) for ip in (*network.ipv4_addresses, *network.ipv6_addresses)]
            if network.eni:
                search.append(IndexEntry("eni", network.eni))
        if container.docker_id:
            search.append(IndexEntry("dockerId", container.docker_id))
        if container.image_digest:
            search.append(IndexEntry("imageDigest", container.image_digest))
        if container.image:
            search.append(IndexEntry("image", container.image))
        search.append(IndexEntry("containerName", container.name))
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


def summary_contributions(task: Task) -> set[tuple[str, str]]:
    """The (dimension, group) counters this task adds one to while it runs.

    ``status`` counts every task not yet stopped by its status; the others count running tasks.
    """
    if is_stopped(task.last_status) or not task.last_status:
        return set()
    contributions = {("status", task.last_status)}
    if task.last_status != RUNNING:
        return contributions
    values = list_values(task)
    for dimension in ("cluster", "service", "family", "availabilityZone", "launchType", "accountId"):
        value = values.get(dimension)
        if value:
            contributions.add((dimension, value))
    for image in {c.image for c in task.containers if c.image and not c.internal}:
        contributions.add(("image", image))
    return {(d, v) for d, v in contributions if len(v.encode()) <= MAX_INDEXED_VALUE_BYTES}
