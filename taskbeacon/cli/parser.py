"""The argparse tree. Global options go before the command, or after it for the query commands."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from taskbeacon import __version__
from taskbeacon.cli import commands, times
from taskbeacon.cli.vocabulary import DRIFTED_SUMMARY_BY, LAUNCH_TYPES, STATUSES, SUMMARY_BY

DRIFTED_HELP = (
    "drifted now: runs another task definition or image digest than its service's current deployment"
)
MAX_LIMIT = 500
DEFAULT_CONSOLE_PORT = 8788
OUTPUTS = ("table", "json", "csv", "ndjson")
DELEGATES = {
    "local": "run the whole system on this machine (no AWS account): gateway, DynamoDB engine, demo fleet",
    "emulate": "serve the ECS task metadata endpoints (v2/v3/v4) and credentials for simulated tasks",
    "reindex": "re-derive index entries and counters from stored task records (failure queue, tasks, "
    "a cluster or an account)",
    "export": "work on a DynamoDB export for Athena: `export inflate SRC DST` adds the readable task "
    "document and history (aws s3 sync moves the export down and back up)",
}
# Delegated commands that take the global options too: given before the command, they are handed on
# (`taskbeacon --profile prod reindex --table T` must not quietly use the default profile).
CARRY_GLOBAL_OPTIONS = frozenset({"reindex"})

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


class Parser(argparse.ArgumentParser):
    """argparse, except that ``-2h`` after an option is a value (a time 2 hours ago), not an unknown flag,
    and that the global options given before a delegated command in ``CARRY_GLOBAL_OPTIONS`` go on to it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-(?:\d+[smhdw])+$")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if getattr(parsed, "delegate", None) in CARRY_GLOBAL_OPTIONS:
            carried: list[str] = []
            for name, default in (("endpoint", None), ("profile", None), ("region", None), ("timeout", 30.0)):
                value: Any = getattr(parsed, name, default)
                if value != default:
                    carried += [f"--{name}", str(value)]
            # Before the command's own arguments: a value given after the command still wins.
            parsed.delegated_args = carried + list(parsed.delegated_args)
        return parsed, extras


def rfc3339(value: str) -> str:
    """RFC 3339 with an offset, sent unchanged, or a duration before now (``24h``, ``-2h``) made absolute."""
    try:
        return times.resolve(value)
    except times.TimeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def one_of(allowed: Sequence[str]) -> Any:
    """An argparse type: the value upper-cased, or a usage error (exit 2) listing what it takes."""

    def parse(value: str) -> str:
        upper_value = upper(value)
        if upper_value not in allowed:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return upper_value

    return parse


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


def _output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--output",
        "-o",
        choices=OUTPUTS,
        default="table",
        help="table (default, for people), json (the API's answer), csv (a header, then a row per item) "
        "or ndjson (one JSON item per line; with --all, printed page by page)",
    )
    group.add_argument(
        "--json", dest="output", action="store_const", const="json", help="the same as --output json"
    )


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
    lst.add_argument("--status", type=one_of(STATUSES), help="last status, e.g. RUNNING, STOPPED")
    lst.add_argument("--launch-type", type=one_of(LAUNCH_TYPES), help=", ".join(LAUNCH_TYPES))
    lst.add_argument("--availability-zone", help="e.g. eu-west-1a")
    lst.add_argument("--account-id", help="12-digit AWS account id")
    lst.add_argument(
        "--task-region",
        help="only tasks in this AWS region (API filter `region`; --region is the signing region)",
    )
    lst.add_argument(
        "--since", type=rfc3339, metavar="TIME", help=f"only tasks started since TIME ({times.EXAMPLES})"
    )
    when = lst.add_mutually_exclusive_group()
    when.add_argument(
        "--active-at",
        type=rfc3339,
        metavar="TIME",
        help="only tasks that were running at TIME (API filter `activeAt`)",
    )
    when.add_argument(
        "--active-between",
        type=rfc3339,
        nargs=2,
        metavar=("FROM", "TO"),
        help="only tasks that were running at any moment from FROM to TO (`activeFrom`, `activeTo`)",
    )
    lst.add_argument(
        "--drifted", action="store_true", help=f"only tasks {DRIFTED_HELP} (API filter `drifted=true`)"
    )
    _paging(lst)
    _output(lst)

    show = _query_command(
        sub, "show", commands.tasks_show, "one task with its containers (GET /tasks/{taskId})"
    )
    show.add_argument("task", metavar="ID_OR_ARN", help="task id or full task ARN")
    _output(show)

    history = _query_command(sub, "history", commands.tasks_history, "a task's change history, newest first")
    history.add_argument("task", metavar="ID_OR_ARN", help="task id or full task ARN")
    _paging(history)
    _output(history)


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
    search.add_argument(
        "--at",
        type=rfc3339,
        metavar="TIME",
        help=f"with --ip: the task that held the address at TIME ({times.EXAMPLES})",
    )
    search.add_argument("--status", type=one_of(STATUSES), help="only tasks with this last status")
    search.add_argument(
        "--confirmed",
        action="store_true",
        help="with --ip, --eni, --image or --image-digest: only what AWS confirmed (events, the ECS API), "
        "not what a task said about itself",
    )
    _paging(search)
    _output(search)


def _events(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = subparsers.add_parser(
        "events", help="change events (local mode)", description="change events (docs/events.md)"
    )
    sub = events.add_subparsers(dest="events_command", metavar="{tail}", required=True)
    tail = _query_command(
        sub,
        "tail",
        commands.events_tail,
        "the change events local mode published (GET /_local/events/published), one JSON a line",
    )
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    tail.add_argument("--limit", type=int, default=0, help="without --follow: only the last N events")
    tail.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)


def _summary(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = _query_command(
        subparsers, "summary", commands.summary, "running tasks per group (GET /summary)"
    )
    summary.add_argument("--by", required=True, choices=SUMMARY_BY, help="what to group by")
    summary.add_argument(
        "--drifted",
        action="store_true",
        help=f"count only running tasks {DRIFTED_HELP}; --by one of {', '.join(DRIFTED_SUMMARY_BY)}",
    )
    _output(summary)


def _coverage(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    coverage = _query_command(
        subparsers,
        "coverage",
        commands.coverage,
        "per account and region: tasks known by source (agent, event, ecs-api), last sweep, last event "
        "(GET /coverage)",
    )
    _output(coverage)


def port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535 (0 = any free port), got {value!r}")
    return number


def _console(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = _query_command(
        subparsers,
        "console",
        commands.console,
        "serve a web console on 127.0.0.1 that signs every API request with your own AWS credentials",
    )
    console.add_argument(
        "--port",
        type=port,
        default=DEFAULT_CONSOLE_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_CONSOLE_PORT}; 0 = any free port)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(
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
    _coverage(subparsers)
    _console(subparsers)
    _events(subparsers)
    for name, help_ in DELEGATES.items():
        # A passthrough stub: the real options belong to the delegated module, which is imported
        # only when this command runs. prefix_chars="\0" makes every later argument a plain value.
        stub = subparsers.add_parser(name, help=help_, add_help=False, prefix_chars="\0")
        stub.add_argument("delegated_args", nargs=argparse.REMAINDER)
        stub.set_defaults(delegate=name)
    return parser
