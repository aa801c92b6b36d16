"""The query commands: turn parsed options into one API call (or a paged series) and print the answer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from taskbeacon.api.client import Getter, QueryValue, segment
from taskbeacon.api.errors import UsageError
from taskbeacon.cli import outputs, times, views
from taskbeacon.cli.paging import Progress, all_pages, iter_pages, page
from taskbeacon.cli.vocabulary import DRIFTED_SUMMARY_BY

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
        "activeAt": args.active_at,
        "drifted": "true" if args.drifted else None,
    }
    if args.active_between is not None:
        start, end = args.active_between
        if times.as_datetime(start) > times.as_datetime(end):
            raise UsageError(f"--active-between: FROM ({start}) is after TO ({end})")
        params["activeFrom"], params["activeTo"] = start, end
    return _paged(
        args,
        api,
        out,
        path="/tasks",
        params=params,
        render=views.tasks_table,
        empty="no tasks match",
        csv=(outputs.TASK_COLUMNS, outputs.task_row),
    )


def tasks_show(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    task = api.get(f"/tasks/{segment(args.task)}")
    if args.output == "json":
        _print(out, _dumps(task))
    elif args.output == "ndjson":
        outputs.ndjson(out, [task])
    elif args.output == "csv":
        outputs.CsvWriter(out, outputs.TASK_COLUMNS, outputs.task_row).write([task])
    else:
        _print(out, views.task_detail(task))
    return 0


def tasks_history(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    path = f"/tasks/{segment(args.task)}/history"
    return _paged(
        args,
        api,
        out,
        path=path,
        params={},
        render=views.history_table,
        empty="no history",
        csv=(outputs.HISTORY_COLUMNS, outputs.history_row),
    )


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
    if args.confirmed:
        if not any(getattr(args, dest) is not None for dest in ("ip", "eni", "image", "image_digest")):
            raise UsageError("--confirmed only applies to --ip, --eni, --image and --image-digest")
        params["confirmed"] = "true"
    columns = (
        (outputs.HIT_COLUMNS, outputs.hit_row)
        if args.ip is not None
        else (outputs.TASK_COLUMNS, outputs.task_row)
    )
    return _paged(
        args,
        api,
        out,
        path="/search",
        params=params,
        render=views.search_table,
        empty="nothing found",
        csv=columns,
    )


def summary(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    params: dict[str, QueryValue] = {"by": args.by}
    if args.drifted:
        if args.by not in DRIFTED_SUMMARY_BY:
            raise UsageError(
                f"--drifted counts by {', '.join(DRIFTED_SUMMARY_BY)} only (not --by {args.by}: "
                "a task's status and images are not kept with its drift)"
            )
        params["drifted"] = "true"
    body = api.get("/summary", params)
    if args.output == "json":
        _print(out, _dumps(body))
        return 0
    rows = [{"group": group, "running": count} for group, count in views.summary_rows(body, args.by)]
    if args.output == "ndjson":
        outputs.ndjson(out, rows)
    elif args.output == "csv":
        outputs.CsvWriter(
            out, outputs.SUMMARY_COLUMNS, lambda r: [outputs.flat(r["group"]), outputs.flat(r["running"])]
        ).write(rows)
    else:
        _print(out, views.summary_table(body, args.by, count="DRIFTED" if args.drifted else "RUNNING"))
    return 0


def coverage(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    body = api.get("/coverage", {})
    rows = views.coverage_rows(body)
    if args.output == "json":
        _print(out, _dumps(body))
    elif args.output == "ndjson":
        outputs.ndjson(out, rows)
    elif args.output == "csv":
        outputs.CsvWriter(
            out, views.COVERAGE_COLUMNS, lambda r: [outputs.flat(r[c]) for c in views.COVERAGE_COLUMNS]
        ).write(rows)
    else:
        _print(out, views.coverage_table(rows) if rows else "no account or region is covered yet")
    return 0


def events_tail(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    """Print local mode's published change events, one JSON document a line; with --follow, keep
    polling for newer ones until Ctrl-C (docs/events.md)."""
    import time

    from core.vocabulary import LOCAL_PUBLISHED_EVENTS

    after = 0
    while True:
        body = api.get(LOCAL_PUBLISHED_EVENTS.path, {"after": after})
        events = body.get("events") or []
        if not args.follow and args.limit:
            events = events[-args.limit :]
        outputs.ndjson(out, events)
        out.flush()
        after = int(body.get("last") or after)
        if not args.follow:
            return 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def console(args: argparse.Namespace, api: Getter, out: TextIO) -> int:
    """Serve the web console until Ctrl-C (imported only here: the query commands never need it)."""
    from taskbeacon.console.command import serve

    return serve(api, port=args.port, out=out)


def _paged(
    args: argparse.Namespace,
    api: Getter,
    out: TextIO,
    *,
    path: str,
    params: dict[str, QueryValue],
    render: Callable[[list[Any]], str],
    empty: str,
    csv: tuple[tuple[str, ...], Callable[[dict[str, Any]], outputs.Row]],
) -> int:
    params = {**params, "limit": args.limit, "cursor": args.cursor}
    if args.output in ("csv", "ndjson"):
        return _streamed(args, api, out, path, params, csv)
    body = all_pages(api, path, params, Progress()) if args.all else page(api, path, params)
    if args.output == "json":
        _print(out, _dumps(body))
        return 0
    if body["items"]:
        _print(out, render(body["items"]))
    else:
        print(f"taskbeacon: {empty}", file=sys.stderr)
    _more(body)
    return 0


def _streamed(
    args: argparse.Namespace,
    api: Getter,
    out: TextIO,
    path: str,
    params: dict[str, QueryValue],
    csv: tuple[tuple[str, ...], Callable[[dict[str, Any]], outputs.Row]],
) -> int:
    """CSV and NDJSON are written page by page, so ``--all`` over a large fleet starts printing at once."""
    writer = outputs.CsvWriter(out, *csv) if args.output == "csv" else None
    pages = iter_pages(api, path, params) if args.all else iter([page(api, path, params)])
    body: dict[str, Any] = {}
    for body in pages:
        if writer is not None:
            writer.write(body["items"])  # the header even when nothing matches: a parser sees the columns
        else:
            outputs.ndjson(out, body["items"])
        out.flush()
    if not args.all:
        _more(body)
    return 0


def _more(body: dict[str, Any]) -> None:
    if body.get("nextCursor"):
        # On stderr: a hint for people, never mixed into the table a script may parse.
        print(f"taskbeacon: more results: add --cursor {body['nextCursor']} (or --all)", file=sys.stderr)


def _dumps(body: Any) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False)


def _print(out: TextIO, text: str) -> None:
    out.write(text + "\n")
