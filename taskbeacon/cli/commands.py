"""The query commands: turn parsed options into one API call (or a paged series) and print the answer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from taskbeacon.cli import views
from taskbeacon.cli.client import QueryValue, segment
from taskbeacon.cli.errors import UsageError
from taskbeacon.cli.paging import Getter, Progress, all_pages, page

Command = Callable[[argparse.Namespace, Getter, TextIO], int]

# --option (argparse dest) -> GET /search query parameter; exactly one is required.
SEARCH_KEYS = {
    "ip": "ip",
    "image": "image",
    "image_digest": "imageDigest",
    "container_name": "containerName",
    "label": "label",
    "tag": "tag",
    "docker_id": "dockerId",
    "eni": "eni",
}


def tasks_list(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    params: dict[str, QueryValue] = {
        "cluster": args.cluster,
        "service": args.service,
        "family": args.family,
        "status": args.status,
        "launchType": args.launch_type,
        "availabilityZone": args.availability_zone,
        "accountId": args.account_id,
        "region": args.task_region,
        "since": args.since,
    }
    return _paged(
        args, api, out, path="/tasks", params=params, render=views.tasks_table, empty="no tasks match"
    )


def tasks_show(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    task = api.get(f"/tasks/{segment(args.task)}")
    _print(out, _dumps(task) if args.json else views.task_detail(task))
    return 0


def tasks_history(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    path = f"/tasks/{segment(args.task)}/history"
    return _paged(args, api, out, path=path, params={}, render=views.history_table, empty="no history")


def search(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    params: dict[str, QueryValue] = {SEARCH_KEYS[dest]: getattr(args, dest) for dest in SEARCH_KEYS}
    for dest in ("label", "tag"):
        value = getattr(args, dest)
        if value is not None and "=" not in value:
            raise UsageError(f"--{dest} takes KEY=VALUE, got {value!r}")
    if args.at is not None and args.ip is None:
        raise UsageError("--at only applies to --ip searches")
    params["at"] = args.at
    params["status"] = args.status
    return _paged(
        args, api, out, path="/search", params=params, render=views.search_table, empty="nothing found"
    )


def summary(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    body = api.get("/summary", {"by": args.by})
    _print(out, _dumps(body) if args.json else views.summary_table(body, args.by))
    return 0


def _paged(
    args: argparse.Namespace,
    api: Getter,
    out: TextIO,
    *,
    path: str,
    params: dict[str, QueryValue],
    render: Callable[[list[Any]], str],
    empty: str,
) -> int:
    params = {**params, "limit": args.limit, "cursor": args.cursor}
    body = all_pages(api, path, params, Progress()) if args.all else page(api, path, params)
    if args.json:
        _print(out, _dumps(body))
        return 0
    if body["items"]:
        _print(out, render(body["items"]))
    else:
        print(f"taskbeacon: {empty}", file=sys.stderr)
    if body.get("nextCursor"):
        # On stderr: a hint for people, never mixed into the table a script may parse.
        print(f"taskbeacon: more results: add --cursor {body['nextCursor']} (or --all)", file=sys.stderr)
    return 0


def _dumps(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False)


def _print(out: TextIO, text: str) -> None:
    out.write(text + "\n")
