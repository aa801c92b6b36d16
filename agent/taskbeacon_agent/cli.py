"""Command line: `taskbeacon-agent {once,exec,sidecar,daemon} [options]`."""

from __future__ import annotations

import os
import sys

from taskbeacon_agent import __version__, config

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import List, Optional

# `exec` must start the workload within 1.5x a bare interpreter's exec: argparse (with gettext,
# re and locale) and typing would cost more than that alone, so this module imports neither at
# the top; `exec` with plain options never loads them (exec.parse), everything else does.
SOURCES = config.SOURCES

ENV_HELP = """\
environment variables:
  TASKBEACON_ENDPOINT           API base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/prod
                                (snapshots go to ${TASKBEACON_ENDPOINT}/snapshots). Not needed with --dry-run.
  TASKBEACON_REGION             SigV4 signing region. Default: parsed from an execute-api URL, else
                                AWS_REGION / AWS_DEFAULT_REGION.
  TASKBEACON_TMDE_V2_URL        TMDE v2 base (default http://169.254.170.2/v2).
  TASKBEACON_INTROSPECTION_URL  ECS agent introspection base (default http://localhost:51678/v1).
  ECS_CONTAINER_METADATA_URI_V4, ECS_CONTAINER_METADATA_URI, ECS_CONTAINER_METADATA_FILE
                                set by ECS; select the tmde-v4, tmde-v3 and metadata-file sources.
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI | AWS_CONTAINER_CREDENTIALS_FULL_URI
    [+ AWS_CONTAINER_AUTHORIZATION_TOKEN | AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE]
                                task-role credentials (set by ECS when the task has a task role).
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
                                static credentials (checked first, as the AWS SDKs do).
  The EC2 instance role (IMDS) is never used: AWS advises that containers must not use it.
  Credentials, the credentials URI and environment variables are never logged or sent.

sources (auto-detected in this order unless --source is given):
  tmde-v4, tmde-v3, tmde-v2, metadata-file; introspection (daemon mode only)

exit codes:
  0  reported (or printed, with --dry-run)
  1  internal error
  2  usage error
  3  no task metadata source available (or the metadata file never became READY)
  4  configuration or credentials problem (TASKBEACON_ENDPOINT, region, no credentials)
  5  the API rejected the snapshot (4xx other than 429)
  6  the API was unreachable or busy until the time budget ran out
  130  interrupted (SIGINT, Ctrl-C); exec: the command was not started
  exec: never returns its own code; it becomes the command (127 command not found, 126 not executable)
"""


def _positive(value: str) -> float:
    import argparse

    try:
        f = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number: %r" % value) from None
    if f <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return f


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(value: str) -> float:
    """Seconds, or a number with a unit: 90, 90s, 15m, 12h."""
    text = value.strip().lower()
    unit = _UNITS.get(text[-1:])
    return _positive(text[:-1] if unit else text) * (unit or 1.0)


def _keepalive(value: str) -> config.Keepalive:
    """`S` (exactly S) or `LOW-HIGH` (uniform in that range, drawn anew for every interval)."""
    low, sep, high = value.partition("-")
    if not sep:
        return _duration(value)
    lo, hi = _duration(low), _duration(high)
    if lo > hi:
        import argparse

        raise argparse.ArgumentTypeError("the range must be LOW-HIGH with LOW <= HIGH")
    return (lo, hi)


def _stop_budget(value: str) -> float:
    f = _positive(value)
    if f > config.MAX_STOP_BUDGET:
        import argparse

        raise argparse.ArgumentTypeError(
            "must be at most %g seconds: ECS kills the container 30 s after SIGTERM by default"
            % config.MAX_STOP_BUDGET
        )
    return f


def build_parser() -> argparse.ArgumentParser:
    import argparse

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--source",
        choices=("auto", *SOURCES),
        default="auto",
        help="force a metadata source (default: auto-detect)",
    )
    common.add_argument(
        "--with-tags",
        action="store_true",
        help="read /taskWithTags (v4/v3) or /metadataWithTags (v2). On EC2 this makes the ECS agent call "
        "ecs:ListTagsForResource with the instance role on every read; failures show up in Errors[]",
    )
    common.add_argument("--with-stats", action="store_true", help="also send task stats (/task/stats)")
    common.add_argument(
        "--dry-run", action="store_true", help="print the JSON that would be sent; send nothing"
    )
    common.add_argument(
        "--timeout", type=_positive, default=2.0, help="timeout of each HTTP call in seconds (default 2)"
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no log lines on stderr")
    common.add_argument("-v", "--verbose", action="store_true", help="log every snapshot sent")

    parser = argparse.ArgumentParser(
        prog="taskbeacon-agent",
        description="Report this ECS task's metadata to taskbeacon "
        "(POST ${TASKBEACON_ENDPOINT}/snapshots, SigV4).",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="taskbeacon-agent " + __version__)
    sub = parser.add_subparsers(dest="mode", metavar="MODE")
    sub.required = True
    fmt = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "once",
        parents=[common],
        help="report once; non-zero exit on failure",
        epilog=ENV_HELP,
        formatter_class=fmt,
    )
    p.add_argument("--budget", type=_positive, default=10.0, help="total time budget in seconds (default 10)")

    p = sub.add_parser(
        "exec",
        parents=[common],
        help="entrypoint hook: exec the command at once while a detached child reports (the command "
        "always runs, whatever happens to the report)",
        usage="taskbeacon-agent exec [options] -- COMMAND [ARGS...]",
        epilog=ENV_HELP,
        formatter_class=fmt,
    )
    p.add_argument(
        "--budget",
        type=_positive,
        default=None,
        help="time budget of the report (default 10; 2 with --foreground, where the command waits for it)",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--background",
        action="store_true",
        help="report from a detached child and exec the command at once (the default, except with "
        "--dry-run, which prints the snapshot before the command starts)",
    )
    when.add_argument(
        "--foreground",
        action="store_true",
        help="report first, then exec: the command waits for the report (at most --budget)",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command to exec, after --")

    for name, text in (
        ("sidecar", "report at start, on change and as keepalive; final 'stop' snapshot on SIGTERM"),
        ("daemon", "host mode on EC2: report every task on the instance from the agent introspection API"),
    ):
        p = sub.add_parser(name, parents=[common], help=text, epilog=ENV_HELP, formatter_class=fmt)
        p.add_argument(
            "--interval", type=_positive, default=30.0, help="poll interval in seconds (default 30)"
        )
        p.add_argument(
            "--keepalive",
            type=_keepalive,
            default=config.DEFAULT_KEEPALIVE,
            metavar="S|LOW-HIGH",
            help="resend an unchanged snapshot after S seconds, or after a random time in LOW-HIGH drawn "
            "anew for every interval; units s, m, h allowed (default 12h-24h: EventBridge events carry "
            "the lifecycle, a keepalive only says the task is still there)",
        )
        p.add_argument(
            "--budget", type=_positive, default=10.0, help="time budget of each report (default 10)"
        )
        if name == "sidecar":
            p.add_argument(
                "--stop-budget",
                type=_stop_budget,
                default=5.0,
                help="time budget of the final stop snapshot (default 5, at most %g)"
                % config.MAX_STOP_BUDGET,
            )
            p.add_argument(
                "--stop-report",
                choices=config.STOP_REPORTS,
                default="auto",
                help="send the final stop snapshot: auto (default) unless the ingest answered that "
                "ECS's STOPPED events reach the inventory, always, or never",
            )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["exec"]:  # plain options: no argparse on the way to the workload
        from taskbeacon_agent import exec as exec_mode

        code = exec_mode.fast_main(args[1:])
        if code is not None:
            return code
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C in `once` (sidecar/daemon handle SIGINT themselves)
        return config.EXIT_INTERRUPTED


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "daemon" and args.source not in ("auto", "introspection"):
        parser.error(
            "daemon does not take --source %s: it always reads the ECS agent introspection API" % args.source
        )
    budget = args.budget
    background = False
    if args.mode == "exec":
        from taskbeacon_agent import exec as exec_mode

        background = exec_mode.in_background(args.background, args.foreground, args.dry_run)
        if budget is None:
            budget = exec_mode.default_budget(background)
    cfg = config.Config(
        env=os.environ,
        source=args.source,
        with_tags=args.with_tags,
        with_stats=args.with_stats,
        dry_run=args.dry_run,
        budget=budget,
        timeout=args.timeout,
        interval=getattr(args, "interval", 30.0),
        keepalive=getattr(args, "keepalive", config.DEFAULT_KEEPALIVE),
        stop_budget=getattr(args, "stop_budget", 5.0),
        stop_report=getattr(args, "stop_report", "auto"),
        quiet=args.quiet,
        verbose=args.verbose,
    )
    if args.mode == "exec":
        command = list(args.command)
        if command and command[0] == "--":
            command = command[1:]
        return exec_mode.run(cfg, command, background=background)
    if args.mode == "daemon":
        from taskbeacon_agent import daemon

        return daemon.run(cfg)
    if args.source == "introspection":
        parser.error("--source introspection is for the daemon mode")
    if args.mode == "sidecar":
        from taskbeacon_agent import sidecar

        return sidecar.run(cfg)
    from taskbeacon_agent import once

    return once.run(cfg)


if __name__ == "__main__":
    sys.exit(main())
