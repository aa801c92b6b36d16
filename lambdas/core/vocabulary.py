"""Every vocabulary of the API, named once: routes, list filters, search kinds, summary dimensions.

Handlers, the CDK stack, the local gateway, the CLI and the tests import these instead of keeping
copies. Stored attribute names live beside the table definition (``core.store.schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

Function = Literal["ingest", "query", "events", "indexer", "reconciler", "sweeper"]


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
    Route("GET", "/coverage", "query"),
    Route("GET", "/openapi.json", "query"),
)
ROUTES: Final = (SNAPSHOTS, *QUERY_ROUTES)
# Local mode only (operator credentials; no deployed route): the change events its in-process bus
# published, oldest first (docs/events.md); `taskbeacon events tail` reads it.
LOCAL_PUBLISHED_EVENTS: Final = Route("GET", "/_local/events/published", "indexer")

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
# Searches `confirmed=true` applies to: the values AWS itself states (DESIGN 3.9).
CONFIRMABLE_SEARCHES: Final = ("ip", "eni", "image", "imageDigest")
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
# `by` of GET /summary with drifted=true: what the drifted entries carry (written once, they hold
# neither the status nor the images a task may change).
DRIFTED_SUMMARY_DIMENSIONS: Final = tuple(by for by in SUMMARY_DIMENSIONS if by not in ("image", "status"))
# Counters kept beside the summary ones: running tasks per account, region and source (GET /coverage).
COVERAGE_DIMENSION: Final = "coverage"
COUNTED_DIMENSIONS: Final = (*SUMMARY_DIMENSIONS, COVERAGE_DIMENSION)
SnapshotReason = Literal["start", "change", "keepalive", "stop"]

# Where a fact came from (DESIGN 3.9): the task about itself, EventBridge, or the sweep's ECS API reads.
AGENT: Final = "agent"
EVENT: Final = "event"
ECS_API: Final = "ecs-api"
SOURCE_KINDS: Final = (AGENT, EVENT, ECS_API)
# Sources whose facts AWS itself states: they outrank the agent's for the fields AWS owns.
CONFIRMING_SOURCES: Final = frozenset({EVENT, ECS_API})
# The groups of fields each of which says which sources stated it (Task.sources).
FACT_GROUPS: Final = ("status", "network", "images", "labels", "tags")

# EventBridge's ECS task state changes: what the events Lambda accepts, and the one rule pattern the
# stack deploys and local mode applies (infra/events.py, taskbeacon/local/aws/event_rule.py). The
# inventory needs a task's RUNNING event and its STOPPED event; the transitional states and the stop
# announced while the task still runs (RUNNING, desired STOPPED) add nothing a query answers
# (docs/decisions/infra.md "EventBridge: only the task state changes the inventory needs").
ECS_EVENT_SOURCE: Final = "aws.ecs"
TASK_STATE_CHANGE: Final = "ECS Task State Change"
TASK_STATE_CHANGE_DETAIL_PATTERN: Final[dict[str, Any]] = {
    "$or": [
        {"lastStatus": ["STOPPED"]},
        {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]},
    ]
}
