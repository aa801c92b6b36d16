"""Domain errors, and the one error body of the API.

Core code raises these; ``handlers.http_errors`` is the one place mapping them to HTTP. Whatever answers
a client with an error (the handlers, API Gateway's own rejections in infra/api.py, local mode's
gateway) builds the body with ``error_body``; docs/errors.md describes it.
"""

from __future__ import annotations

from typing import Any


def error_body(
    code: str, message: str, field: str | None = None, *, candidates: list[str] | None = None
) -> dict[str, Any]:
    """``{"error": {"code", "message", "field"}}``, plus ``candidates`` for an ambiguous task id only."""
    error: dict[str, Any] = {"code": code, "message": message, "field": field}
    if candidates is not None:
        error["candidates"] = candidates
    return {"error": error}


class TaskBeaconError(Exception):
    """Base class: every error a client can cause carries a stable machine-readable ``code``."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TaskBeaconError):
    """The request (body, query string or metadata document) is malformed; ``field`` names where."""

    code = "invalid_input"


class PayloadTooLarge(TaskBeaconError):
    code = "payload_too_large"


class Forbidden(TaskBeaconError):
    """The caller may not write (or read) what it asked for."""

    code = "forbidden"


class NotFound(TaskBeaconError):
    code = "not_found"


class InvalidCursor(InvalidInput):
    code = "invalid_cursor"


class Throttled(TaskBeaconError):
    """DynamoDB pushed back; the client should retry after ``retry_after`` seconds."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(Throttled):
    code = "unavailable"


class AmbiguousTask(TaskBeaconError):
    """A bare task id names tasks in several accounts or regions: ask again by ARN."""

    code = "ambiguous_task_id"

    def __init__(self, message: str, *, candidates: list[str]) -> None:
        super().__init__(message, field="taskId")
        self.candidates = candidates
