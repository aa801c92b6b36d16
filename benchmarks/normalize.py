"""Normalize throughput against the floor of merely parsing the same JSON, in the same run."""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "ecs" / "v4-task-ec2-awsvpc.json"


def run() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "lambdas"))
    from core.normalize import normalize_snapshot

    task = json.loads(FIXTURE.read_text())
    body = {
        "schemaVersion": 1,
        "source": "tmde-v4",
        "collectedAt": "2026-11-28T09:14:03.123456Z",
        "sequence": 1,
        "reason": "start",
        "agent": {"version": "bench", "mode": "once", "instanceId": "bench"},
        "task": task,
    }
    raw = json.dumps(body)
    number = 2000
    parse_only = timeit.timeit(lambda: json.loads(raw), number=number)
    full = timeit.timeit(lambda: normalize_snapshot(json.loads(raw)), number=number)
    return {
        "snapshots_per_second": round(number / full),
        "json_loads_per_second": round(number / parse_only),
        "cost_vs_json_loads": round(full / parse_only, 1),
        "cost_vs_json_loads_note": "ratio: (parse + normalize) / parse alone, v4 EC2 awsvpc fixture",
    }
