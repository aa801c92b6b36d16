"""The API's one error body is what the OpenAPI document's ``Error`` schema says."""

from __future__ import annotations

from core.errors import error_body
from core.model.responses import Error


def test_error_body_has_code_message_and_field() -> None:
    assert error_body("invalid_input", "bad limit", "limit") == {
        "error": {"code": "invalid_input", "message": "bad limit", "field": "limit"}
    }
    assert error_body("not_found", "no such route") == {
        "error": {"code": "not_found", "message": "no such route", "field": None}
    }


def test_error_body_is_the_documented_schema() -> None:
    for body in (
        error_body("forbidden", "no"),
        error_body("ambiguous_task_id", "two tasks", "taskId", candidates=["arn:a", "arn:b"]),
    ):
        assert Error.model_validate(body).model_dump(exclude_unset=True) == body
