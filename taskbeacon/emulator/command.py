"""`taskbeacon emulate`: the lead's CLI calls add_arguments(parser) and run(args)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from taskbeacon.emulator.credentials import profile_provider
from taskbeacon.emulator.examples import EXAMPLES, example
from taskbeacon.emulator.server import Emulator, SimulatedTask

DESCRIPTION = """\
Serve ECS task metadata (TMDE v4, v3, v2 incl. taskWithTags and stats), the container metadata
file, the agent introspection API and a container credentials endpoint for simulated tasks, so any
container or script can be tested locally. Credentials are fake unless --profile is given.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument(
        "--example",
        action="append",
        choices=EXAMPLES,
        help="built-in example task (repeatable; default: fargate when no --task-file)",
    )
    parser.add_argument(
        "--task-file",
        action="append",
        type=Path,
        default=[],
        help='JSON file: a v4 /task document, or {"task": {...}, "tags": {...}, '
        '"containerInstanceTags": {...}, "stats": {...}, "containers": {"<name>": {...}}, '
        '"tagErrors": ["TaskTags", "ContainerInstanceTags"]} (repeatable)',
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=51679, help="port (default 51679, the ECS agent's; 0 = any)"
    )
    parser.add_argument(
        "--profile",
        help="serve REAL credentials from this AWS profile (never production ones); default: fake ones",
    )
    parser.add_argument(
        "--metadata-dir", help="where to write metadata files (default: a temporary directory)"
    )
    parser.add_argument(
        "--advertise-host",
        help="address containers use to reach the emulator, put into the printed environment "
        "(default: the bound address; e.g. 169.254.170.2 when the emulator runs at that IP on a "
        "Docker network, as the ECS agent does)",
    )
    parser.add_argument(
        "--tag-errors",
        action="store_true",
        help="simulate an instance role without ecs:ListTagsForResource: v4 /taskWithTags answers 200 "
        "with Errors[] (TaskTags; ContainerInstanceTags on EC2) and without those tags",
    )
    parser.add_argument(
        "--metadata-ready-after",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="write the metadata files (EC2 tasks) in their pre-READY shape and mark them READY only "
        "after SECONDS (default 0: READY at once)",
    )
    parser.add_argument(
        "--env-file", type=Path, help="also write the first task's environment as export lines here"
    )
    parser.add_argument(
        "--docker-env-file",
        type=Path,
        help="also write the first task's environment as KEY=value lines for `docker run --env-file`",
    )


def _load_task_file(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    if "task" in data and isinstance(data["task"], dict):
        return data
    return {"task": data}


def _add(emulator: Emulator, spec: dict[str, Any], metadata_ready: bool = True) -> SimulatedTask:
    return emulator.add_task(
        spec["task"],
        container_docs=spec.get("containers"),
        tags=spec.get("tags"),
        stats=spec.get("stats"),
        container_instance_tags=spec.get("containerInstanceTags"),
        tag_errors=spec.get("tagErrors"),
        metadata_ready=metadata_ready,
    )


def _add_all(
    emulator: Emulator, specs: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[list[SimulatedTask], threading.Timer | None]:
    """Add every task; --tag-errors and --metadata-ready-after apply to all of them."""
    if args.tag_errors:
        for spec in specs:
            spec.setdefault("tagErrors", ["TaskTags", "ContainerInstanceTags"])
    delay = max(0.0, float(args.metadata_ready_after or 0.0))
    tasks = [_add(emulator, spec, metadata_ready=delay == 0) for spec in specs]
    timer: threading.Timer | None = None
    if delay:

        def make_ready() -> None:
            for t in tasks:
                t.set_metadata_ready()

        timer = threading.Timer(delay, make_ready)
        timer.daemon = True
        timer.start()
    return tasks, timer


def export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


def docker_env_lines(env: dict[str, str]) -> str:
    """`docker run --env-file` format: KEY=value, no quoting (Docker takes the rest of the line)."""
    return "".join(f"{k}={v}\n" for k, v in sorted(env.items()))


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    specs: list[dict[str, Any]] = []
    try:
        specs.extend(_load_task_file(p) for p in args.task_file)
    except (OSError, ValueError) as exc:
        print(f"taskbeacon emulate: cannot read task file: {exc}", file=sys.stderr)
        return 2
    names = args.example or ([] if specs else ["fargate"])
    specs.extend(example(n) for n in names)
    provider = profile_provider(args.profile) if args.profile else None
    emulator = Emulator(
        args.host,
        args.port,
        credentials_provider=provider,
        metadata_dir=args.metadata_dir,
        advertise_host=args.advertise_host,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(
            f"taskbeacon emulate: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    tasks, timer = _add_all(emulator, specs, args)
    where = emulator.url
    if emulator.public_url != emulator.url:
        where += f" (tasks are told {emulator.public_url})"
    print(f"# taskbeacon emulator on {where} serving {len(tasks)} task(s); Ctrl-C to stop")
    for t in tasks:
        print(f"\n# {t.task_arn} ({t.launch_type})")
        print(export_lines(t.env()), end="")
    sys.stdout.flush()
    for path, render in ((args.env_file, export_lines), (args.docker_env_file, docker_env_lines)):
        if path and tasks:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(tasks[0].env()), encoding="utf-8")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        if timer is not None:
            timer.cancel()
        emulator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m taskbeacon.emulator.command`) until the CLI wires `taskbeacon emulate`."""
    parser = argparse.ArgumentParser(prog="taskbeacon emulate")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
