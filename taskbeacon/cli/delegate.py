"""``taskbeacon local`` and ``taskbeacon emulate``: hand the rest of the command line to their own modules.

The modules are imported only when their command runs: they pull in heavy dependencies (moto, the
Lambda handlers) that the query commands never need.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Protocol, cast

from taskbeacon.api.errors import CliError

# reindex imports the server code and boto3 only when it runs, like local and emulate.
MODULES = {
    "local": "taskbeacon.local.command",
    "emulate": "taskbeacon.emulator.command",
    "reindex": "taskbeacon.cli.reindex",
    "export": "taskbeacon.export.command",
}


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def load(name: str) -> CommandModule:
    module_name = MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise CliError(
                f"`taskbeacon {name}` is not available in this installation (module {module_name} is missing)"
            ) from exc
        raise CliError(
            f"`taskbeacon {name}` needs the Python package {exc.name!r}, which is not installed"
        ) from exc
    if not callable(getattr(module, "add_arguments", None)) or not callable(getattr(module, "run", None)):
        raise CliError(f"{module_name} does not define add_arguments(parser) and run(args)")
    return cast(CommandModule, module)


def run(name: str, argv: Sequence[str]) -> int:
    module = load(name)
    parser = argparse.ArgumentParser(prog=f"taskbeacon {name}")
    module.add_arguments(parser)
    args = parser.parse_args(list(argv))  # SystemExit (usage, --help) is handled by main
    return int(module.run(args) or 0)
