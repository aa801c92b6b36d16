"""`taskbeacon local` / `taskbeacon emulate`: lazy hand-off to their own modules."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from typing import Any

import pytest

from taskbeacon.cli import delegate
from taskbeacon.cli.main import main


def fake_module(calls: list[argparse.Namespace], code: int = 0) -> types.ModuleType:
    module = types.ModuleType("fake_command")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=0)
        parser.add_argument("--region")  # may reuse names of the CLI's global options
        parser.add_argument("files", nargs="*")

    def run(args: argparse.Namespace) -> int:
        calls.append(args)
        return code

    module.add_arguments = add_arguments  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("name", ["local", "emulate"])
def test_arguments_pass_through_to_the_module(monkeypatch: Any, name: str) -> None:
    calls: list[argparse.Namespace] = []
    monkeypatch.setitem(sys.modules, delegate.MODULES[name], fake_module(calls, code=7))
    assert (
        main(["--endpoint", "http://ignored", name, "--port", "8080", "--region", "eu-west-1", "a.json"]) == 7
    )
    assert calls[0].port == 8080
    assert calls[0].region == "eu-west-1"
    assert calls[0].files == ["a.json"]


def test_delegated_help_and_usage_errors(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, delegate.MODULES["local"], fake_module([]))
    assert main(["local", "--help"]) == 0
    assert "usage: taskbeacon local" in capsys.readouterr().out
    assert main(["local", "--port", "many"]) == 2


def test_missing_module_is_a_clear_error(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setitem(delegate.MODULES, "emulate", "taskbeacon.no_such_package.command")
    assert main(["emulate"]) == 1
    assert "`taskbeacon emulate` is not available" in capsys.readouterr().err


def test_missing_dependency_is_named(monkeypatch: Any, capsys: Any) -> None:
    def import_module(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'moto'", name="moto")

    monkeypatch.setattr(delegate.importlib, "import_module", import_module)
    assert main(["local"]) == 1
    assert "needs the Python package 'moto'" in capsys.readouterr().err


def test_module_without_the_contract_is_rejected(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, delegate.MODULES["emulate"], types.ModuleType("empty"))
    assert main(["emulate"]) == 1
    assert "add_arguments(parser) and run(args)" in capsys.readouterr().err


def test_cli_start_up_imports_neither_botocore_nor_delegates() -> None:
    heavy = ("botocore", "taskbeacon.local", "taskbeacon.emulator")
    code = (
        "import sys; from taskbeacon.cli.main import main, build_parser; build_parser().format_help();"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
