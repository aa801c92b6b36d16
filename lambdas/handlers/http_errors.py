"""The one place that maps errors to HTTP responses: {"error": {"code", "message", "field"}}.

It also refuses query parameters a route does not declare. ``tools/openapi.py`` documents every status
this module sends, per route.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from core.errors import (
    AmbiguousTask,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TaskBeaconError,
    Throttled,
    Unavailable,
    error_body,
)
from core.observability import count_rejection, logger

_STATUS: list[tuple[type[TaskBeaconError], int]] = [
    (Unavailable, 503),
    (Throttled, 429),
    (PayloadTooLarge, 413),
    (Forbidden, 403),
    (NotFound, 404),
    (AmbiguousTask, 409),
    (InvalidInput, 400),
]


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    candidates: list[str] | None = None,
    **headers: str,
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(code, message, field, candidates=candidates)),
        headers=headers or None,
    )


def status_of(error: TaskBeaconError) -> int:
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


def refuse_unknown_parameters(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """400 for a query parameter the matched route does not declare (a typo such as ``clustr``)."""
    route = app.context.get("_route")
    given = app.current_event.multi_value_query_string_parameters or app.current_event.query_string_parameters
    if route is not None and given:
        declared = {param.alias for param in route.dependant.query_params}
        unknown = sorted(name for name in given if name not in declared)
        if unknown:
            accepted = ", ".join(sorted(declared)) or "none"
            raise InvalidInput(
                f"unknown query parameter {unknown[0]!r}; this route takes: {accepted}", field=unknown[0]
            )
    return next_middleware(app)


def register(app: APIGatewayRestResolver) -> None:
    """Install the handlers on a resolver; every handler shares them."""
    app.use(middlewares=[refuse_unknown_parameters])

    @app.exception_handler(TaskBeaconError)
    def _domain_error(error: TaskBeaconError) -> Response[str]:
        status = status_of(error)
        count_rejection(error.code)
        logger.info("request rejected", extra={"status": status, "code": error.code, "field": error.field})
        headers: dict[str, str] = {}
        if isinstance(error, Throttled):
            headers["Retry-After"] = str(error.retry_after)
        candidates = error.candidates if isinstance(error, AmbiguousTask) else None
        return error_response(
            status, error.code, error.message, error.field, candidates=candidates, **headers
        )

    @app.exception_handler(RequestValidationError)
    def _invalid_parameters(error: RequestValidationError) -> Response[str]:
        first: dict[str, Any] = (error.errors() or [{}])[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
        field = ".".join(location) or None
        message = (
            f"{field}: {first.get('msg', 'invalid value')}" if field else first.get("msg", "invalid request")
        )
        count_rejection("invalid_input")
        return error_response(400, "invalid_input", message, field)

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return error_response(404, "not_found", "no such route")
