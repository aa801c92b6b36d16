"""Exit codes and the typed errors that carry them, so every failure maps to one documented code; and
the API's error body, which ``ApiError.from_body`` reads and the console answers with.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # the API answered with an error (4xx/5xx not listed below) or anything unexpected
    USAGE = 2  # bad command line, missing endpoint or signing region (argparse uses 2 as well)
    NOT_FOUND = 3  # 404
    AUTH = 4  # 401/403, or no AWS credentials could be found
    THROTTLED = 5  # 429/503 still failing after retries
    CONNECTION = 6  # could not connect, or the request timed out


class CliError(Exception):
    """An error the CLI reports on stderr as one clear line, then exits with ``exit_code``."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    exit_code = ExitCode.USAGE


class CredentialsError(CliError):
    exit_code = ExitCode.AUTH


class ConnectionFailed(CliError):
    exit_code = ExitCode.CONNECTION


class ApiError(CliError):
    """A non-2xx answer; keeps the API's ``{"error": {"code", "message", "field"}}`` body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        text = f"HTTP {status} {code}: {message}" + (f" (field: {field})" if field else "")
        super().__init__(text)
        self.status = status
        self.code = code
        self.api_message = message
        self.field = field
        self.exit_code = exit_code_for_status(status)

    @classmethod
    def from_body(cls, status: int, body: Any, fallback: str) -> ApiError:
        """Build from our API's error body, or API Gateway's own ``{"message": ...}`` (IAM denials)."""
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                return cls(
                    status,
                    str(err.get("code") or _default_code(status)),
                    str(err.get("message") or fallback),
                    err.get("field") if isinstance(err.get("field"), str) else None,
                )
            message = body.get("message") or body.get("Message")
            if isinstance(message, str):
                return cls(status, _default_code(status), message)
        return cls(status, _default_code(status), fallback)


def exit_code_for_status(status: int) -> ExitCode:
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (401, 403):
        return ExitCode.AUTH
    if status in (429, 503):
        return ExitCode.THROTTLED
    return ExitCode.ERROR


def _default_code(status: int) -> str:
    return {
        400: "invalid_input",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        429: "throttled",
        503: "unavailable",
    }.get(status, "error")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The API's error body, ``{"error": {"code", "message", "field"}}``.

    The server builds it with ``core.errors.error_body``; an installed CLI has no lambdas/ to import
    that from, so this is its copy, pinned to it by tests/console/test_console_http.py.
    """
    return {"error": {"code": code, "message": message, "field": field}}
