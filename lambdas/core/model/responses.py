"""What the API answers, as typed models: the OpenAPI document is generated from these.

The handlers return plain JSON built by the query service; these models describe it (the
contract the OpenAPI document publishes and the fuzz test checks every answer against). Field
names are camelCase on the wire, as in ``core.model.task``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from core.model.task import Task
from core.vocabulary import SUMMARY_DIMENSIONS


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class TaskDocument(Task):
    """A task as the query routes serve it: the ``Task`` model plus what the store knows of it."""

    model_config = ConfigDict(title="Task", extra="allow")

    index_truncated: bool = Field(
        default=False,
        description="true when the task has more index entries (IPs, labels, ...) than the store"
        " indexes; searches may then miss it by the values left out",
    )


class TaskPage(_Wire):
    """A page of ``GET /tasks``: newest first; ``nextCursor`` is null on the last page."""

    items: list[TaskDocument]
    next_cursor: str | None = Field(description="opaque; pass as `cursor` for the next page")


class IpHit(_Wire):
    """An ``ip`` search hit: the task, and when it held the address (UTC, null when open-ended)."""

    task: TaskDocument
    held_from: str | None = Field(default=None, description="RFC 3339, UTC")
    held_until: str | None = Field(default=None, description="RFC 3339, UTC; null while it holds it")
    confirmed: bool = Field(
        default=False, description="true when AWS (an event or the ECS API) stated the address for the task"
    )


class SearchPage(_Wire):
    """A page of ``GET /search``: tasks, or for ``ip`` the tasks that held it with when, newest first."""

    items: list[TaskDocument | IpHit]
    next_cursor: str | None = Field(description="opaque; pass as `cursor` for the next page")


class Change(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    from_: Any = Field(default=None, alias="from")
    to: Any = None


class HistoryEntry(_Wire):
    """One meaningful change of a task (status, IPs, images, health), when and by whom it was seen."""

    at: str = Field(description="RFC 3339, UTC: when the report or event was observed")
    source: str | None = None
    reporter: str | None = None
    changes: dict[str, Change] = Field(default_factory=dict)


class HistoryPage(_Wire):
    """A page of ``GET /tasks/{taskId}/history``, newest first."""

    items: list[HistoryEntry]
    next_cursor: str | None = Field(description="opaque; pass as `cursor` for the next page")


SummaryDimension = Literal[SUMMARY_DIMENSIONS]  # type: ignore[valid-type]


class SummaryGroup(_Wire):
    group: str
    running: int = Field(ge=0)


class Summary(_Wire):
    """Running tasks per group of ``by``, largest groups first."""

    by: SummaryDimension
    groups: list[SummaryGroup]
    total: int = Field(ge=0)


class CoverageTasks(BaseModel):
    """Tasks not yet stopped that each source reported (a task counts once per source)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    agent: int = Field(ge=0)
    event: int = Field(ge=0)
    ecs_api: int = Field(ge=0, alias="ecs-api")


class CoverageRow(_Wire):
    """One account and region: what each source knows, when it was last swept and last sent an event."""

    account_id: str
    region: str
    tasks: CoverageTasks
    last_swept_at: str | None = Field(description="RFC 3339, UTC; null: never swept")
    last_event_at: str | None = Field(description="RFC 3339, UTC (to 5 minutes); null: no event seen")
    last_sweep: dict[str, Any] | None = Field(description="what the last sweep found: tasks, writes, calls")


class Coverage(_Wire):
    """``GET /coverage``: every account and region any source reaches; one not listed is not wired."""

    items: list[CoverageRow]


class Accepted(_Wire):
    """``POST /snapshots`` stored the report: every task id in it, and those whose record changed."""

    task_ids: list[str]
    changed: list[str]
    stop_report: Literal["send", "skip"] = Field(
        description="whether the agent should send its stop snapshot: skip when ECS's STOPPED event "
        "reaches the inventory for every task reported (agent --stop-report auto follows it)"
    )


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="stable machine-readable reason, e.g. invalid_input (docs/errors.md)")
    message: str
    field: str | None = Field(
        default=None,
        description="where the problem is: a query parameter, or a path into the body such as"
        " task.Containers[2].Name; null when it is no one place",
    )
    candidates: list[str] | None = Field(
        default=None, description="409 ambiguous_task only: the ARNs of the tasks the id names"
    )


class Error(BaseModel):
    """Every error, from the functions and from API Gateway's own gateway responses alike."""

    error: ErrorDetail


class OpenApiDocument(BaseModel):
    """This API's OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow", title="OpenAPI")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


__all__ = [
    "Accepted",
    "Coverage",
    "Error",
    "HistoryPage",
    "IpHit",
    "OpenApiDocument",
    "SearchPage",
    "Summary",
    "TaskDocument",
    "TaskPage",
]
