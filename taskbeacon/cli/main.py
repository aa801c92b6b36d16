"""Entry point of the ``taskbeacon`` console script: parse, dispatch, turn failures into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from taskbeacon.api.client import ApiClient, ClientConfig
from taskbeacon.api.errors import CliError, ExitCode, UsageError
from taskbeacon.cli import delegate
from taskbeacon.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return _dispatch(parser, args)
    except SystemExit as exc:  # argparse usage errors and --help: return, so main(argv) is testable
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE if exc.code else ExitCode.OK)
    except CliError as exc:
        print(f"taskbeacon: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `taskbeacon tasks list | head`: the reader left; not our error
        _silence_stdout()
        return int(ExitCode.OK)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if getattr(args, "delegate", None):
        return delegate.run(args.delegate, args.delegated_args)
    if not hasattr(args, "command"):
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    return int(args.command(args, client_from_args(args), sys.stdout))


def client_from_args(args: argparse.Namespace) -> ApiClient:
    endpoint = args.endpoint or os.environ.get("TASKBEACON_ENDPOINT")
    if not endpoint:
        raise UsageError(
            "no API endpoint: pass --endpoint URL or set TASKBEACON_ENDPOINT "
            "(local mode writes it to .taskbeacon/local.env)"
        )
    return ApiClient(
        ClientConfig(endpoint=endpoint, region=args.region, profile=args.profile, timeout=args.timeout)
    )


def _silence_stdout() -> None:
    # Point stdout at devnull so the interpreter's final flush does not raise again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
