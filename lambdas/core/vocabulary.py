"""Every vocabulary of the API, named once: routes, list filters, search kinds, summary dimensions.

Handlers, the CDK stack, the local gateway, the CLI and the tests import these instead of keeping
copies. Stored attribute names live beside the table definition (``core.store.schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Function = Literal["ingest", "query", "events", "indexer", "reconciler"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource template, e.g. /tasks/{taskId}
    function: Function


SNAPSHOTS: Final = Route("POST", "/snapshots", "ingest")
QUERY_ROUTES: Final = (
    Route("GET", "/tasks", "query"),
    Route("GET", "/tasks/{taskId}", "query"),
    Route("GET", "/tasks/{taskId}/history", "query"),
    Route("GET", "/search", "query"),
    Route("GET", "/summary", "query"),
    Route("GET", "/openapi.json", "query"),
)
ROUTES: Final = (SNAPSHOTS, *QUERY_ROUTES)

# Filters of GET /tasks, in the order tried as the partition to read when several are given.
LIST_FILTERS: Final = (
    "cluster",
    "service",
    "family",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
    "region",
)
# Parameters of GET /search, exactly one of which is given.
SEARCH_KINDS: Final = ("ip", "image", "imageDigest", "containerName", "label", "tag", "dockerId", "eni")
# `by` of GET /summary.
SUMMARY_DIMENSIONS: Final = (
    "cluster",
    "service",
    "family",
    "image",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
)
SnapshotReason = Literal["start", "change", "keepalive", "stop"]
