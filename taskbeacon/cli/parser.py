"""The argparse tree. Global options go before the command, or after it for the query commands."""

from __future__ import annotations

import argparse
from datetime import datetime

from taskbeacon import __version__
from taskbeacon.cli import commands

SUMMARY_BY = (
    "cluster",
    "service",
    "family",
    "image",
    "availabilityZone",
    "launchType",
    "status",
    "accountId",
)
MAX_LIMIT = 500
DELEGATES = {
    "local": "run the whole system on this machine (no AWS account): gateway, DynamoDB engine, demo fleet",
    "emulate": "serve the ECS task metadata endpoints (v2/v3/v4) and credentials for simulated tasks",
}

EPILOG = """\
environment:
  TASKBEACON_ENDPOINT   API URL when --endpoint is not given (local mode: source .taskbeacon/local.env)
  AWS_PROFILE, AWS_ACCESS_KEY_ID, ...  the standard botocore credential chain signs every request

exit codes:
  0  ok
  1  API error (other 4xx/5xx, including 400 invalid input) or unexpected failure
  2  usage error (bad options, no endpoint, no signing region)
  3  not found (404)
  4  authentication/authorization error (401/403) or no AWS credentials
  5  throttled or unavailable (429/503) after retries
  6  connection error or timeout
"""


def rfc3339(value: str) -> str:
    """Check the shape locally (a clear exit 2 beats a round trip), send the text unchanged."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not RFC 3339 with a timezone (e.g. 2026-11-28T09:14:00Z)"
        )
    return value


def page_limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {MAX_LIMIT}, got {value!r}")
    return number


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return number


def upper(value: str) -> str:
    return value.upper()


def add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # Repeated on each query command with SUPPRESS defaults so a value given after the command wins
    # and one given before it is not reset by the subcommand's defaults.
    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument("--endpoint", default=default(None), help="API URL (default: $TASKBEACON_ENDPOINT)")
    group.add_argument("--profile", default=default(None), help="AWS profile used to sign requests")
    group.add_argument(
        "--region",
        default=default(None),
        help="SigV4 signing region (default: from an execute-api URL, else $AWS_REGION, else the profile)",
    )
    group.add_argument(
        "--timeout", type=positive_float, default=default(30.0), help="seconds per HTTP request (default 30)"
    )


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=page_limit, help=f"page size, 1-{MAX_LIMIT} (server default 100)")
    parser.add_argument("--cursor", help="continue from the nextCursor of a previous page")
    parser.add_argument(
        "--all", action="store_true", help="follow nextCursor to the end and print every item"
    )


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")


def _query_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    command: commands.Command,
    help_: str,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_,
        description=help_,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command=command)
    add_global_options(parser, top_level=False)
    return parser


def _tasks(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = subparsers.add_parser(
        "tasks", help="list, show and trace tasks", description="list, show and trace tasks"
    )
    sub = tasks.add_subparsers(dest="tasks_command", metavar="{list,show,history}", required=True)

    lst = _query_command(sub, "list", commands.tasks_list, "list tasks (GET /tasks), newest first")
    lst.add_argument("--cluster", help="cluster name or ARN")
    lst.add_argument("--service", help="service name")
    lst.add_argument("--family", help="task definition family")
    lst.add_argument("--status", type=upper, help="last status, e.g. RUNNING, STOPPED")
    lst.add_argument("--launch-type", type=upper, help="EC2, FARGATE, EXTERNAL ...")
    lst.add_argument("--availability-zone", help="e.g. eu-west-1a")
    lst.add_argument("--account-id", help="12-digit AWS account id")
    lst.add_argument(
        "--task-region",
        help="only tasks in this AWS region (API filter `region`; --region is the signing region)",
    )
    lst.add_argument("--since", type=rfc3339, help="only tasks seen since this RFC 3339 time")
    _paging(lst)
    _json(lst)

    show = _query_command(
        sub, "show", commands.tasks_show, "one task with its containers (GET /tasks/{taskId})"
    )
    show.add_argument("task", metavar="ID_OR_ARN", help="task id or full task ARN")
    _json(show)

    history = _query_command(sub, "history", commands.tasks_history, "a task's change history, newest first")
    history.add_argument("task", metavar="ID_OR_ARN", help="task id or full task ARN")
    _paging(history)
    _json(history)


def _search(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    search = _query_command(
        subparsers, "search", commands.search, "find tasks by one attribute (GET /search)"
    )
    what = search.add_mutually_exclusive_group(required=True)
    what.add_argument("--ip", help="every task that held this IP address, newest first")
    what.add_argument("--image", help="container image, e.g. nginx:1.27 or a full repository URI")
    what.add_argument("--image-digest", help="e.g. sha256:...")
    what.add_argument("--container-name", help="container name")
    what.add_argument("--label", metavar="KEY=VALUE", help="Docker label")
    what.add_argument("--tag", metavar="KEY=VALUE", help="task tag")
    what.add_argument("--docker-id", help="Docker container id")
    what.add_argument("--eni", help="network interface id, e.g. eni-0abc...")
    search.add_argument("--at", type=rfc3339, help="with --ip: the task that held the address at this time")
    search.add_argument("--status", type=upper, help="only tasks with this last status")
    _paging(search)
    _json(search)


def _summary(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = _query_command(
        subparsers, "summary", commands.summary, "running tasks per group (GET /summary)"
    )
    summary.add_argument("--by", required=True, choices=SUMMARY_BY, help="what to group by")
    _json(summary)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskbeacon",
        description="Query the taskbeacon inventory of Amazon ECS tasks, or run it locally.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_global_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command_name", metavar="COMMAND")
    _tasks(subparsers)
    _search(subparsers)
    _summary(subparsers)
    for name, help_ in DELEGATES.items():
        # A passthrough stub: the real options belong to the delegated module, which is imported
        # only when this command runs. prefix_chars="\0" makes every later argument a plain value.
        stub = subparsers.add_parser(name, help=help_, add_help=False, prefix_chars="\0")
        stub.add_argument("delegated_args", nargs=argparse.REMAINDER)
        stub.set_defaults(delegate=name)
    return parser
