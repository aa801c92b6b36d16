"""--output table|json|csv|ndjson (--json its synonym), relative times, --active-at and --active-between."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from taskbeacon.cli import times
from taskbeacon.cli.main import main
from taskbeacon.cli.outputs import HISTORY_COLUMNS, HIT_COLUMNS, TASK_COLUMNS

NOW = datetime(2026, 11, 28, 12, 0, 0, 500_000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(times, "now", lambda: NOW)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def page(items: list[Any], cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "nextCursor": cursor}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", "2026-11-27T12:00:00Z"),
        ("-2h", "2026-11-28T10:00:00Z"),
        ("30m", "2026-11-28T11:30:00Z"),
        ("7d", "2026-11-21T12:00:00Z"),
        ("1w", "2026-11-21T12:00:00Z"),
        ("1h30m", "2026-11-28T10:30:00Z"),
        ("90s", "2026-11-28T11:58:30Z"),
        ("2026-11-28T09:14:00Z", "2026-11-28T09:14:00Z"),
        ("2026-11-28T09:14:00+01:00", "2026-11-28T09:14:00+01:00"),  # sent as given
        ("2026-11-28T09:14:00.123-05:30", "2026-11-28T09:14:00.123-05:30"),
    ],
)
def test_times_resolve(text: str, expected: str) -> None:
    assert times.resolve(text) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "24", "h", "2026-11-28", "2026-11-28T09:14:00", "+2h", "2x", ""]
)
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(times.TimeError):
        times.resolve(text)


@pytest.mark.parametrize(
    ("argv", "param", "value"),
    [
        (["tasks", "list", "--since", "24h"], "since", "2026-11-27T12:00:00Z"),
        (["tasks", "list", "--active-at", "-2h"], "activeAt", "2026-11-28T10:00:00Z"),
        (["tasks", "list", "--active-at=2026-11-28T09:00:00Z"], "activeAt", "2026-11-28T09:00:00Z"),
        (["search", "--ip", "10.1.2.3", "--at", "-2h"], "at", "2026-11-28T10:00:00Z"),
        (["search", "--ip", "10.1.2.3", "--at", "30m"], "at", "2026-11-28T11:30:00Z"),
    ],
)
def test_relative_times_reach_the_api_as_rfc3339(
    fake_api: Any, capsys: Any, argv: list[str], param: str, value: str
) -> None:
    fake_api.reply("/tasks", page([]))
    fake_api.reply("/search", page([]))
    code, _, err = run(capsys, "--endpoint", fake_api.url, *argv)
    assert code == 0, err
    assert fake_api.last.query[param] == value


def test_active_between_is_active_from_and_to(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([]))
    code, _, _ = run(
        capsys,
        "--endpoint",
        fake_api.url,
        "tasks",
        "list",
        "--cluster",
        "prod",
        "--active-between",
        "-2d",
        "-1d",
    )
    assert code == 0
    assert fake_api.last.query == {
        "cluster": "prod",
        "activeFrom": "2026-11-26T12:00:00Z",
        "activeTo": "2026-11-27T12:00:00Z",
    }
    run(
        capsys,
        "--endpoint",
        fake_api.url,
        "tasks",
        "list",
        "--active-between",
        "2026-11-27T00:00:00Z",
        "2026-11-28T00:00:00+00:00",
    )
    assert fake_api.last.query == {
        "activeFrom": "2026-11-27T00:00:00Z",
        "activeTo": "2026-11-28T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["tasks", "list", "--since", "yesterday"], "--since"),
        (["tasks", "list", "--active-at", "2026-11-28"], "--active-at"),
        (["tasks", "list", "--active-between", "1d"], "--active-between"),
        (["tasks", "list", "--active-between", "1d", "soon"], "--active-between"),
        (["tasks", "list", "--active-between", "1h", "2h"], "--active-between"),  # FROM after TO
        (["tasks", "list", "--active-at", "1h", "--active-between", "2h", "1h"], "--active-between"),
        (["search", "--ip", "10.1.2.3", "--at", "+2h"], "--at"),
        (["tasks", "list", "--output", "xml"], "--output"),
        (["tasks", "list", "--json", "--output", "csv"], "--output"),
    ],
)
def test_usage_errors_name_the_flag(fake_api: Any, capsys: Any, argv: list[str], named: str) -> None:
    fake_api.reply("/tasks", page([]))
    code, out, err = run(capsys, "--endpoint", fake_api.url, *argv)
    assert code == 2
    assert named in err
    assert out == ""
    assert not fake_api.requests


def test_json_is_a_synonym_of_output_json(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task()], "c1"))
    _, as_json, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--json")
    _, as_output, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--output", "json")
    _, short, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "-o", "json")
    assert as_json == as_output == short
    assert json.loads(as_json) == page([make_task()], "c1")


def test_ndjson_one_item_a_line_page_by_page(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task("a" * 32), make_task("b" * 32)], "c1"))
    fake_api.reply("/tasks", page([make_task("c" * 32)]))
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--all", "--output", "ndjson")
    assert code == 0
    lines = out.splitlines()
    assert [json.loads(line)["taskId"] for line in lines] == ["a" * 32, "b" * 32, "c" * 32]
    assert json.loads(lines[0]) == make_task("a" * 32)


def test_csv_of_tasks(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task(), make_task("f" * 32, stale=True, tags={})], "next"))
    code, out, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--output", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(TASK_COLUMNS)
    assert rows[0]["taskId"] == "0123456789abcdef0123456789abcdef"
    assert rows[0]["ips"] == "10.1.2.3"
    assert rows[0]["images"] == "nginx:1.27"
    assert rows[0]["startedAt"] == "2026-11-28T09:14:03.123456+00:00"  # full precision, as the API said
    assert rows[0]["stoppedAt"] == ""  # unknown is empty
    assert rows[0]["tags"] == "team=payments"
    assert (rows[0]["stale"], rows[1]["stale"]) == ("false", "true")
    assert "--cursor next" in err  # the hint stays on stderr


def test_csv_header_even_when_nothing_matches(fake_api: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([]))
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--output", "csv")
    assert out.splitlines() == [",".join(TASK_COLUMNS)]


def test_csv_of_ip_hits_has_when_held(fake_api: Any, make_task: Any, capsys: Any) -> None:
    hit = {"task": make_task(), "heldFrom": "2026-11-28T09:14:05Z", "heldUntil": None}
    fake_api.reply("/search", page([hit]))
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "search", "--ip", "10.1.2.3", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(HIT_COLUMNS)
    assert (rows[0]["heldFrom"], rows[0]["heldUntil"]) == ("2026-11-28T09:14:05Z", "")
    fake_api.reply("/search", page([make_task()]))
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "search", "--image", "nginx:1.27", "-o", "csv")
    assert out.splitlines()[0] == ",".join(TASK_COLUMNS)


def test_history_csv_and_ndjson(fake_api: Any, capsys: Any) -> None:
    item = {
        "at": "2026-11-28T09:14:05Z",
        "changes": {"lastStatus": {"from": "PENDING", "to": "RUNNING"}},
        "reporter": "eventbridge",
        "source": "event",
    }
    fake_api.reply("/tasks/abc/history", page([item]))
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "history", "abc", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(HISTORY_COLUMNS)
    assert json.loads(rows[0]["changes"]) == item["changes"]
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "history", "abc", "--output", "ndjson")
    assert [json.loads(line) for line in out.splitlines()] == [item]


def test_show_in_every_output(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks/abc", make_task())
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "show", "abc", "--output", "ndjson")
    assert out.count("\n") == 1 and json.loads(out) == make_task()
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "show", "abc", "--output", "csv")
    assert [r["taskId"] for r in csv.DictReader(io.StringIO(out))] == [make_task()["taskId"]]
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "show", "abc", "--output", "table")
    assert "Task ARN:" in out


def test_summary_outputs(fake_api: Any, capsys: Any) -> None:
    body = {
        "by": "cluster",
        "groups": [{"group": "prod", "running": 3}, {"group": "dev", "running": 1}],
        "total": 4,
    }
    fake_api.reply("/summary", body)
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster", "-o", "csv")
    assert out.splitlines() == ["group,running", "prod,3", "dev,1"]
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster", "-o", "ndjson")
    assert [json.loads(line) for line in out.splitlines()] == body["groups"]
    _, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster", "--json")
    assert json.loads(out) == body


def test_console_command_is_in_help(capsys: Any) -> None:
    code, out, _ = run(capsys, "console", "--help")
    assert code == 0
    assert "--port" in out and "--endpoint" in out and "--profile" in out
    code, _, err = run(capsys, "console", "--port", "70000")
    assert code == 2 and "--port" in err
