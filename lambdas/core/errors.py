"""Domain errors. Core code raises these; ``handlers.http_errors`` is the one place mapping them to HTTP."""

from __future__ import annotations


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
