"""Handler cold import time, as a ratio to a bare interpreter and to `import boto3` in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[1] / "lambdas"
RUNS = 7


def _median_seconds(code: str) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], check=True, cwd=LAMBDAS, env={"POWERTOOLS_TRACE_DISABLED": "1"}
        )
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run() -> dict[str, object]:
    bare = _median_seconds("pass")
    boto3 = _median_seconds("import boto3")
    results: dict[str, object] = {"bare_interpreter_ms": round(bare * 1000, 1)}
    for handler in ("ingest", "query", "events"):
        seconds = _median_seconds(f"import handlers.{handler}")
        results[f"{handler}_import_ms"] = round(seconds * 1000, 1)
        results[f"{handler}_vs_boto3"] = round(seconds / boto3, 2)
        results[f"{handler}_vs_boto3_note"] = (
            "ratio: handler import / `import boto3` (process wall time, median of 7)"
        )
    return results
