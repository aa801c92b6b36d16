"""The X-Ray SDK is imported only when tracing is on; when it is on, Powertools' Tracer does the work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.observability import LazyTracer

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
IMPORTS = (
    "import sys, handlers.query, handlers.ingest, handlers.events\n"
    "print('aws_xray_sdk' in sys.modules, hasattr(handlers.query.get_task, '__wrapped__'))"
)


def _xray_imported(**env: str) -> tuple[bool, bool]:
    """Whether the handlers imported the X-Ray SDK, and whether a route is wrapped by a tracer."""
    ours = ("POWERTOOLS_", "AWS_LAMBDA", "LAMBDA_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS],
        cwd=LAMBDAS,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    imported, wrapped = done.stdout.split()
    return imported == "True", wrapped == "True"


def test_tracing_off_never_imports_the_xray_sdk() -> None:
    # The stack's default, and outside Lambda (Powertools' own rule: no LAMBDA_TASK_ROOT).
    assert _xray_imported(POWERTOOLS_TRACE_DISABLED="true", LAMBDA_TASK_ROOT="/var/task") == (False, False)
    assert _xray_imported() == (False, False)


def test_tracing_on_in_lambda_uses_powertools_tracer() -> None:
    env = {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1"}
    assert _xray_imported(**env) == (True, True)


def test_decorators_pass_through_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer() -> int:
        return 42

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    off = LazyTracer("test")
    assert off.capture_method(capture_response=False)(answer) is answer
    assert off.capture_lambda_handler(capture_response=False)(answer) is answer

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    on = LazyTracer("test")  # decides only; the real Tracer (which patches botocore) is not built here
    assert on.enabled
    on.reset()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not on.enabled
