"""Query Lambda: GET /tasks, /tasks/{taskId}, /tasks/{taskId}/history, /search, /summary, /openapi.json."""
# No `from __future__ import annotations` here: Powertools reads the route annotations at runtime.

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.errors import InvalidInput
from core.observability import logger, metrics, tracer
from core.openapi import load_document
from core.vocabulary import CONFIRMABLE_SEARCHES, SEARCH_KINDS, SUMMARY_DIMENSIONS
from handlers import http_errors, wiring

app = APIGatewayRestResolver(enable_validation=True)
http_errors.register(app)

Limit = Annotated[int, Query(ge=1, le=500, description="page size (1-500)")]
Cursor = Annotated[str | None, Query(max_length=4096, description="opaque cursor from nextCursor")]
Filter = Annotated[str | None, Query(min_length=1, max_length=1024)]
Status = Annotated[str | None, Query(min_length=1, max_length=32, description="lastStatus, e.g. RUNNING")]
TaskRef = Annotated[str, Path(min_length=1, max_length=2048, description="task id, or URL-encoded task ARN")]
Dimension = Literal[SUMMARY_DIMENSIONS]  # type: ignore[valid-type]
Drifted = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=32,
        description="true: only tasks drifted now from their service's current deployment (the only value)",
    ),
]

# Traces carry timings, never inventory: no route records its answer (capture_response=False).


@app.get("/tasks", summary="List tasks, newest first", tags=["query"])
@tracer.capture_method(capture_response=False)
def list_tasks(
    cluster: Filter = None,
    service: Filter = None,
    family: Filter = None,
    status: Status = None,
    launchType: Filter = None,
    availabilityZone: Filter = None,
    accountId: Filter = None,
    region: Filter = None,
    since: Annotated[
        datetime | None, Query(description="first seen at or after (RFC 3339 with a zone)")
    ] = None,
    activeAt: Annotated[
        datetime | None, Query(description="running at this moment (RFC 3339 with a zone)")
    ] = None,
    activeFrom: Annotated[
        datetime | None, Query(description="running at any moment from this time (with activeTo; <= 7 days)")
    ] = None,
    activeTo: Annotated[datetime | None, Query(description="... until this time (with activeFrom)")] = None,
    drifted: Drifted = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    given = {
        "cluster": cluster,
        "service": service,
        "family": family,
        "status": status,
        "launchType": launchType,
        "availabilityZone": availabilityZone,
        "accountId": accountId,
        "region": region,
    }
    chosen = {name: value for name, value in given.items() if value is not None}
    page = wiring.query_service().list_tasks(
        chosen,
        since=_utc(since, "since"),
        limit=limit,
        cursor=cursor,
        active_at=_utc(activeAt, "activeAt"),
        active_from=_utc(activeFrom, "activeFrom"),
        active_to=_utc(activeTo, "activeTo"),
        drifted=_drifted(drifted),
    )
    return page.body()


@app.get("/tasks/<taskId>", summary="One task with its containers", tags=["query"])
@tracer.capture_method(capture_response=False)
def get_task(taskId: TaskRef) -> dict[str, Any]:
    return wiring.query_service().get_task(unquote(taskId))


@app.get("/tasks/<taskId>/history", summary="Change history of one task, newest first", tags=["query"])
@tracer.capture_method(capture_response=False)
def get_history(taskId: TaskRef, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
    return wiring.query_service().history(unquote(taskId), limit=limit, cursor=cursor).body()


@app.get(
    "/search",
    summary="Find tasks by IP, image, digest, container name, label, tag, Docker id or ENI",
    description=f"Give exactly one of {', '.join(SEARCH_KINDS)}.",
    tags=["query"],
)
@tracer.capture_method(capture_response=False)
def search(
    ip: Filter = None,
    image: Filter = None,
    imageDigest: Filter = None,
    containerName: Filter = None,
    label: Annotated[str | None, Query(pattern=r"^[^=]+=.*$", max_length=1024, description="k=v")] = None,
    tag: Annotated[str | None, Query(pattern=r"^[^=]+=.*$", max_length=1024, description="k=v")] = None,
    dockerId: Filter = None,
    eni: Filter = None,
    status: Status = None,
    at: Annotated[datetime | None, Query(description="with ip: who held it at this time (RFC 3339)")] = None,
    confirmed: Annotated[
        bool,
        Query(description="true: only what AWS confirmed (events, the ECS API), not tasks' own claims"),
    ] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    values = {
        "ip": ip,
        "image": image,
        "imageDigest": imageDigest,
        "containerName": containerName,
        "label": label,
        "tag": tag,
        "dockerId": dockerId,
        "eni": eni,
    }
    given = {kind: value for kind in SEARCH_KINDS if (value := values[kind]) is not None}
    if len(given) != 1:
        raise InvalidInput(f"give exactly one of {', '.join(SEARCH_KINDS)}", field="query")
    ((kind, value),) = given.items()
    if at is not None and kind != "ip":
        raise InvalidInput("at only applies to an ip search", field="at")
    if confirmed and kind not in CONFIRMABLE_SEARCHES:
        raise InvalidInput(
            f"confirmed only applies to {', '.join(CONFIRMABLE_SEARCHES)} (what AWS states)",
            field="confirmed",
        )
    page = wiring.query_service().search(
        kind, value, status=status, at=_utc(at, "at"), limit=limit, cursor=cursor, confirmed=confirmed
    )
    return page.body()


@app.get(
    "/coverage",
    summary="Per account and region: tasks known by source, last sweep, last event",
    tags=["query"],
)
@tracer.capture_method(capture_response=False)
def coverage() -> dict[str, Any]:
    return wiring.query_service().coverage()


@app.get("/summary", summary="Running tasks per group", tags=["query"])
@tracer.capture_method(capture_response=False)
def summary(
    by: Annotated[Dimension, Query(description="grouping dimension")], drifted: Drifted = None
) -> dict[str, Any]:
    return wiring.query_service().summary(by, drifted=_drifted(drifted))


@app.get("/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["meta"], include_in_schema=True)
def openapi() -> dict[str, Any]:
    return load_document()


def _drifted(value: str | None) -> bool:
    """``drifted`` takes exactly ``true``; anything else would read as "all tasks": a 400 naming it."""
    if value is None:
        return False
    if value != "true":
        raise InvalidInput(f"drifted must be true, got {value[:32]!r}", field="drifted")
    return True


def _utc(value: datetime | None, field: str) -> datetime | None:
    """The same instant in UTC, so every offset (``Z``, ``+05:00``, ``-14:00``) asks the same question."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a time zone (e.g. 2026-11-28T09:14:00Z)", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is in the year 10000 in UTC
        raise InvalidInput(f"{field} is out of range once converted to UTC", field=field) from None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
