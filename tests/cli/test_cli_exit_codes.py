"""Every documented exit code, and the clear stderr line that goes with it."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from taskbeacon.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def test_help_is_exit_0_and_documents_exit_codes(capsys: Any) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "exit codes:" in out and "6  connection error" in out
    assert "TASKBEACON_ENDPOINT" in out


def test_missing_endpoint_is_a_usage_error(capsys: Any) -> None:
    code, out, err = run(capsys, "tasks", "list")
    assert code == 2
    assert out == ""
    assert "no API endpoint" in err and "TASKBEACON_ENDPOINT" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["tasks", "list", "--limit", "0"],
        ["tasks", "list", "--limit", "501"],
        ["tasks", "list", "--since", "yesterday"],
        ["tasks", "list", "--since", "2026-11-28T09:00:00"],  # no timezone
        ["search"],  # one key is required
        ["search", "--ip", "10.0.0.1", "--eni", "eni-1"],  # only one key
        ["search", "--image", "x", "--at", "2026-11-28T09:00:00Z"],  # --at needs --ip
        ["search", "--label", "no-equals-sign"],
        ["summary", "--by", "color"],
        ["tasks"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(fake_api: Any, capsys: Any, argv: list[str]) -> None:
    code, _, err = run(capsys, "--endpoint", fake_api.url, *argv)
    assert code == 2
    assert err
    assert fake_api.requests == []


def test_unknown_task_is_exit_3(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/tasks/nope", error("not_found", "task nope not found", "taskId"), status=404)
    code, out, err = run(capsys, "--endpoint", fake_api.url, "tasks", "show", "nope")
    assert code == 3
    assert out == ""
    assert err.strip() == "taskbeacon: error: HTTP 404 not_found: task nope not found (field: taskId)"


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (403, {"message": "User: arn:aws:iam::1:user/x is not authorized"}, "HTTP 403 forbidden: User: arn"),
        (403, {"Message": "The security token included in the request is invalid."}, "security token"),
        (401, error("unauthorized", "missing signature"), "HTTP 401 unauthorized: missing signature"),
    ],
)
def test_auth_errors_are_exit_4(fake_api: Any, capsys: Any, status: int, body: Any, text: str) -> None:
    fake_api.reply("/tasks", body, status=status)
    code, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list")
    assert code == 4
    assert text in err


def test_no_credentials_is_exit_4_without_a_request(fake_api: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list")
    assert code == 4
    assert "no AWS credentials" in err
    assert fake_api.requests == []


def test_unknown_profile_is_exit_4(fake_api: Any, capsys: Any) -> None:
    code, _, err = run(capsys, "--endpoint", fake_api.url, "--profile", "nobody", "tasks", "list")
    assert code == 4
    assert "nobody" in err


def test_no_signing_region_is_exit_2(fake_api: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_REGION")
    code, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list")
    assert code == 2
    assert "--region" in err


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, error("invalid_cursor", "cursor is stale or forged", "cursor")),
        (500, error("internal", "boom")),
        (502, None),
    ],
)
def test_other_api_errors_are_exit_1(fake_api: Any, capsys: Any, status: int, body: Any) -> None:
    fake_api.reply("/tasks", body, status=status)
    code, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--cursor", "x")
    assert code == 1
    assert f"HTTP {status}" in err
    assert len(fake_api.requests) == 1  # only 429/503 are retried


def test_invalid_cursor_message_names_the_field(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", error("invalid_cursor", "cursor is stale or forged", "cursor"), status=400)
    _, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--cursor", "x")
    assert "invalid_cursor: cursor is stale or forged (field: cursor)" in err


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_retried_then_exit_5(fake_api: Any, capsys: Any, status: int) -> None:
    fake_api.reply("/summary", error("throttled", "slow down"), status=status, headers={"Retry-After": "0"})
    code, _, err = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster")
    assert code == 5
    assert len(fake_api.requests) == 3  # first try + 2 retries
    assert err.count("retrying") == 2
    assert "slow down" in err
    dates = {r.headers["X-Amz-Date"] for r in fake_api.requests}
    assert all(r.signature_ok for r in fake_api.requests) and dates


def test_throttling_then_success_is_exit_0(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/summary", None, status=503, headers={"Retry-After": "0"})
    fake_api.reply("/summary", {"items": []})
    code, _, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "family")
    assert code == 0
    assert len(fake_api.requests) == 2


def test_connection_refused_is_exit_6(capsys: Any) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run(capsys, "--endpoint", f"http://127.0.0.1:{port}", "tasks", "list")
    assert code == 6
    assert "cannot connect" in err


def test_timeout_is_exit_6(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", {"items": [], "nextCursor": None}, delay=1.0)
    code, _, err = run(capsys, "--endpoint", fake_api.url, "--timeout", "0.2", "tasks", "list")
    assert code == 6
    assert "timed out" in err


def test_non_json_success_is_exit_1(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/summary", None)  # 200 with an empty body
    code, _, err = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "status")
    assert code == 1
    assert "/summary" in err


def test_bad_endpoint_scheme_is_exit_2(capsys: Any) -> None:
    code, _, err = run(capsys, "--endpoint", "ftp://example.com", "tasks", "list")
    assert code == 2
    assert "http(s)" in err
