"""Query commands against the fake API: query-string mapping, encoding, signing, paging and output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskbeacon.cli.main import main

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def page(items: list[Any], cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "nextCursor": cursor}


def test_tasks_list_maps_every_filter_and_signs(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task()]))
    code, _, _ = run(
        capsys,
        "--endpoint",
        fake_api.url,
        "tasks",
        "list",
        "--cluster=prod",
        "--service=web-svc",
        "--family=web",
        "--status=running",
        "--launch-type=fargate",
        "--availability-zone=us-east-1a",
        "--account-id=123456789012",
        "--task-region=eu-west-1",
        "--since=2026-11-28T09:00:00Z",
        "--limit=50",
        "--cursor=abc/+=",
    )
    assert code == 0
    request = fake_api.last
    assert request.query == {
        "cluster": "prod",
        "service": "web-svc",
        "family": "web",
        "status": "RUNNING",
        "launchType": "FARGATE",
        "availabilityZone": "us-east-1a",
        "accountId": "123456789012",
        "region": "eu-west-1",
        "since": "2026-11-28T09:00:00Z",
        "limit": "50",
        "cursor": "abc/+=",
    }
    auth = request.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDTASKBEACONTEST/")
    assert "/us-east-1/execute-api/aws4_request" in auth
    assert request.signature_ok


def test_tasks_list_table(fake_api: Any, make_task: Any, capsys: Any) -> None:
    stale = make_task("feedface", stale=True, serviceName=None, containers=[], startedAt=None)
    fake_api.reply("/tasks", page([make_task(), stale]))
    code, out, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "TASK", "ID", "CLUSTER", "SERVICE", "FAMILY:REV", "STATUS", "LAUNCH", "AZ", "IPS", "STARTED", "STALE",
        "DRIFT",
    ]  # fmt: skip
    assert lines[1].split() == [
        "0123456789abcdef0123456789abcdef", "prod", "web-svc", "web:7", "RUNNING", "FARGATE",
        "us-east-1a", "10.1.2.3", "2026-11-28T09:14:03Z",
    ]  # fmt: skip
    # null service and no IPs are "-"; no startedAt falls back to first seen; stale is marked.
    assert lines[2].split()[2] == "-"
    assert lines[2].split()[-3:] == ["-", "2026-11-28T09:14:05Z", "STALE"]
    assert err == ""


def test_global_options_after_the_command_and_from_env(
    fake_api: Any, make_task: Any, capsys: Any, monkeypatch: Any
) -> None:
    fake_api.reply("/tasks", page([]))
    assert run(capsys, "tasks", "list", "--endpoint", fake_api.url, "--region", "eu-west-1")[0] == 0
    assert "/eu-west-1/execute-api/" in fake_api.last.headers["Authorization"]
    assert fake_api.last.signature_ok
    monkeypatch.setenv("TASKBEACON_ENDPOINT", fake_api.url + "/")
    code, out, err = run(capsys, "tasks", "list")
    assert (code, out) == (0, "")
    assert "no tasks match" in err
    assert fake_api.last.path == "/tasks"


def test_show_url_encodes_the_arn_and_signs_it(fake_api: Any, make_task: Any, capsys: Any) -> None:
    encoded = (
        "/tasks/arn%3Aaws%3Aecs%3Aus-east-1%3A123456789012%3Atask%2Fprod%2F0123456789abcdef0123456789abcdef"
    )
    fake_api.reply(encoded, make_task(exitCode=None))
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "show", TASK_ARN)
    assert code == 0
    assert fake_api.last.path == encoded
    assert fake_api.last.signature_ok  # path segments are double-encoded in the canonical request
    assert "Task ARN:" in out and TASK_ARN in out
    assert "Family:Rev:" in out and "web:7" in out
    assert "Tags:" in out and "team=payments" in out
    assert "Stopped:" in out
    containers = out.split("Containers:\n", 1)[1].splitlines()
    assert containers[0].split() == ["NAME", "IMAGE", "DIGEST", "STATUS", "HEALTH", "IPS", "EXIT"]
    assert containers[1].split() == [
        "app",
        "nginx:1.27",
        "sha256:abababababab",
        "RUNNING",
        "HEALTHY",
        "10.1.2.3",
        "-",
    ]


def test_show_json_is_the_raw_task(fake_api: Any, make_task: Any, capsys: Any) -> None:
    task = make_task()
    fake_api.reply(f"/tasks/{task['taskId']}", task)
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "show", task["taskId"], "--json")
    assert code == 0
    assert json.loads(out) == task


def test_all_follows_cursors_into_one_json_page(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task("a")], "c1"))
    fake_api.reply("/tasks", page([make_task("b"), make_task("c")], "c2"))
    fake_api.reply("/tasks", page([make_task("d")]))
    code, out, err = run(
        capsys, "--endpoint", fake_api.url, "tasks", "list", "--all", "--limit", "2", "--json"
    )
    assert code == 0
    body = json.loads(out)
    assert [t["taskId"] for t in body["items"]] == ["a", "b", "c", "d"]
    assert body["nextCursor"] is None
    assert [r.query.get("cursor") for r in fake_api.requests] == [None, "c1", "c2"]
    assert all(r.query["limit"] == "2" for r in fake_api.requests)
    assert err == ""  # no progress indicator when stderr is not a terminal


def test_all_stops_on_a_repeated_cursor(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task("a")], "same"))
    code, _, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--all")
    assert code == 1
    assert "same cursor twice" in err
    assert len(fake_api.requests) == 2


def test_one_page_prints_the_next_cursor_on_stderr(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/tasks", page([make_task("a")], "next-1"))
    code, out, err = run(capsys, "--endpoint", fake_api.url, "tasks", "list")
    assert code == 0
    assert "next-1" not in out
    assert "--cursor next-1" in err
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "list", "--json")
    assert json.loads(out) == page([make_task("a")], "next-1")


def test_history_table_and_paging(fake_api: Any, capsys: Any) -> None:
    entry = {
        "at": "2026-11-28T09:20:00Z",
        "source": "event",
        "changes": {"lastStatus": ["RUNNING", "STOPPED"]},
    }
    fake_api.reply("/tasks/abc/history", page([entry], "h1"))
    fake_api.reply(
        "/tasks/abc/history", page([{"observedAt": "2026-11-28T09:00:00Z", "lastStatus": "RUNNING"}])
    )
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "tasks", "history", "abc", "--all")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "SOURCE", "CHANGE"]
    assert lines[1].split() == ["2026-11-28T09:20:00Z", "event", "lastStatus=[RUNNING,STOPPED]"]
    assert lines[2].split() == ["2026-11-28T09:00:00Z", "-", "lastStatus=RUNNING"]
    assert [r.query.get("cursor") for r in fake_api.requests] == [None, "h1"]


@pytest.mark.parametrize(
    ("option", "value", "param"),
    [
        ("--ip", "10.1.2.3", "ip"),
        ("--image", "nginx:1.27", "image"),
        ("--image-digest", "sha256:abc", "imageDigest"),
        ("--container-name", "app", "containerName"),
        ("--label", "com.example/team=pay ments", "label"),
        ("--tag", "team=payments", "tag"),
        ("--docker-id", "d0c4e1", "dockerId"),
        ("--eni", "eni-0abc", "eni"),
    ],
)
def test_search_maps_each_key(fake_api: Any, capsys: Any, option: str, value: str, param: str) -> None:
    fake_api.reply("/search", page([]))
    code, _, _ = run(capsys, "--endpoint", fake_api.url, "search", option, value, "--status", "stopped")
    assert code == 0
    assert fake_api.last.query == {param: value, "status": "STOPPED"}
    assert fake_api.last.signature_ok


def test_search_ip_at_shows_when_the_task_held_it(fake_api: Any, make_task: Any, capsys: Any) -> None:
    hits = [
        {"task": make_task("new"), "heldFrom": "2026-11-28T09:00:00Z", "heldUntil": None, "confirmed": True},
        {
            "task": make_task("old"),
            "heldFrom": "2026-11-27T08:00:00Z",
            "heldUntil": "2026-11-27T10:00:00+02:00",
            "confirmed": False,
        },
    ]
    fake_api.reply("/search", page(hits))
    at = "2026-11-28T09:14:00Z"
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "search", "--ip", "10.1.2.3", "--at", at)
    assert code == 0
    assert fake_api.last.query == {"ip": "10.1.2.3", "at": at}
    lines = out.splitlines()
    assert lines[0].endswith("HELD UNTIL            STATED BY")
    assert lines[1].split()[0] == "new" and lines[1].split()[-3:] == ["2026-11-28T09:00:00Z", "-", "AWS"]
    # Shown in UTC; the address the task alone claimed is marked as such.
    assert lines[2].split()[-4:] == ["2026-11-27T08:00:00Z", "2026-11-27T08:00:00Z", "task", "only"]


def test_search_plain_task_items(fake_api: Any, make_task: Any, capsys: Any) -> None:
    fake_api.reply("/search", page([make_task("x1")]))
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "search", "--image", "nginx:1.27")
    assert code == 0
    assert out.splitlines()[1].split()[0] == "x1"
    assert "HELD" not in out


def test_summary_table_and_json(fake_api: Any, capsys: Any) -> None:
    body = {"by": "cluster", "items": [{"group": "prod", "running": 12}, {"group": "dev", "running": 3}]}
    fake_api.reply("/summary", body)
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster")
    assert code == 0
    assert fake_api.last.query == {"by": "cluster"}
    assert [line.split() for line in out.splitlines()] == [
        ["GROUP", "RUNNING"],
        ["prod", "12"],
        ["dev", "3"],
        ["TOTAL", "15"],
    ]
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "availabilityZone", "--json")
    assert json.loads(out) == body
    assert fake_api.last.query == {"by": "availabilityZone"}


def test_summary_by_cluster_shows_names_not_arns(fake_api: Any, capsys: Any) -> None:
    arn = "arn:aws:ecs:eu-west-1:111122223333:cluster/prod"
    fake_api.reply("/summary", {"by": "cluster", "groups": [{"group": arn, "running": 4}], "total": 4})
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster")
    assert code == 0
    assert out.splitlines()[1].split() == ["prod", "(111122223333,", "eu-west-1)", "4"]
    code, out, _ = run(capsys, "--endpoint", fake_api.url, "summary", "--by", "cluster", "--json")
    assert json.loads(out)["groups"][0]["group"] == arn  # scripts keep the unique ARN
