"""Normalize + validate against the floor of merely parsing the same JSON, per source, in the same run.

    .venv/bin/python -m benchmarks.normalize [--json out.json]

For every source, the recorded fixtures of tests/fixtures/ecs/ are wrapped in a snapshot envelope
(the event is sent as is) and serialized once. The floor is ``json.loads`` of that text; the case is
``json.loads`` followed by ``normalize_snapshot`` (``normalize_event`` for events): envelope
validation, the source's normalizer and the models. Both run in the same process, interleaved
(one round times every payload both ways, in a shuffled order, each as the best of 3 batches of
CPU time, so other processes on the machine disturb it less); each figure is the median over rounds
of (case time / floor time), summed over the source's fixtures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "ecs"
TARGET = 5.0  # x json.loads (issue 9.3)
ROUNDS = 15
NUMBER = 200

OWN_CONTAINER = "<the task's first container>"  # as the sidecar sends its own ${URI} document
# source -> [(document key -> fixture file)]: every recorded payload each source can carry.
PAYLOADS: dict[str, list[dict[str, str]]] = {
    "tmde-v4": [
        {"task": "v4-task-ec2-awsvpc.json"},
        {"task": "v4-task-fargate-docs.json", "container": OWN_CONTAINER},
        {"task": "v4-taskwithtags-ec2-awsvpc.json"},
        {"task": "v4-taskwithtags-ec2-errors.json"},
        {"task": "v4-task-ec2-bridge.json", "stats": "v4-task-stats-ec2.json"},
        {"tasks": "v4-tasks-managed-instances.json"},
    ],
    "tmde-v3": [{"task": "v3-task-ec2-awsvpc.json", "container": "v3-container-ec2-awsvpc.json"}],
    "tmde-v2": [{"task": "v2-metadata-task-awsvpc.json"}, {"task": "v2-taskwithtags-ec2-awsvpc.json"}],
    "metadata-file": [
        {"task": "metadata-file-ready-bridge.json"},
        {"task": "metadata-file-ready-old-arn-default-networkmode.json"},
    ],
    "introspection": [
        {"tasks": "introspection-v1-tasks.json"},  # the whole {"Tasks": [...]} answer, as a list element
        {"tasks": "introspection-v1-tasks-by-dockerid.json"},
    ],
    "event": [{"event": "eventbridge-task-state-change-fargate-running.json"}],
}


def _body(source: str, docs: dict[str, str]) -> str:
    loaded = {
        key: json.loads((FIXTURES / name).read_text()) for key, name in docs.items() if name != OWN_CONTAINER
    }
    if docs.get("container") == OWN_CONTAINER:
        loaded["container"] = loaded["task"]["Containers"][0]
    if source == "event":
        return json.dumps(loaded["event"])
    if "tasks" in loaded and not isinstance(loaded["tasks"], list):
        loaded["tasks"] = [loaded["tasks"]]
    body = {
        "schemaVersion": 1,
        "source": source,
        "collectedAt": "2026-11-28T09:14:03.123456789Z",
        "sequence": 7,
        "reason": "start",
        "agent": {"version": "bench", "mode": "sidecar", "instanceId": "bench-agent"},
        **loaded,
    }
    return json.dumps(body)


def _pair(raw: str, normalize: Callable[[Any], Any]) -> tuple[Callable[[], Any], Callable[[], Any]]:
    def floor() -> Any:
        return json.loads(raw)

    def full() -> Any:
        return normalize(json.loads(raw))

    return floor, full


def _cases() -> dict[str, list[tuple[Callable[[], Any], Callable[[], Any]]]]:
    if str(ROOT / "lambdas") not in sys.path:
        sys.path.insert(0, str(ROOT / "lambdas"))
    from core.normalize import normalize_event, normalize_snapshot

    cases: dict[str, list[tuple[Callable[[], Any], Callable[[], Any]]]] = {}
    for source, payloads in PAYLOADS.items():
        normalize = normalize_event if source == "event" else normalize_snapshot
        for docs in payloads:
            raw = _body(source, docs)
            normalize(json.loads(raw))  # must succeed; also warms every code path once
            cases.setdefault(source, []).append(_pair(raw, normalize))
    return cases


def run(rounds: int = ROUNDS) -> dict[str, object]:
    cases = _cases()
    ratios: dict[str, list[float]] = {source: [] for source in cases}
    per_second: dict[str, list[float]] = {source: [] for source in cases}
    for _ in range(rounds):
        order = list(cases)
        random.shuffle(order)
        for source in order:
            floor_total = full_total = 0.0
            for floor, full in cases[source]:
                pair = [("floor", floor), ("full", full)]
                random.shuffle(pair)
                for kind, function in pair:
                    seconds = min(timeit.repeat(function, number=NUMBER, repeat=3, timer=time.process_time))
                    if kind == "floor":
                        floor_total += seconds
                    else:
                        full_total += seconds
            ratios[source].append(full_total / floor_total)
            per_second[source].append(NUMBER * len(cases[source]) / full_total)
    results: dict[str, object] = {}
    worst: list[float] = []
    for source in cases:
        ratio = round(statistics.median(ratios[source]), 2)
        worst.append(ratio)
        met = "met" if ratio <= TARGET else "NOT met"
        results[f"{source}_vs_json_loads"] = ratio
        results[f"{source}_vs_json_loads_note"] = (
            f"(json.loads + normalize) / json.loads, {len(cases[source])} fixture(s), "
            f"target <= {TARGET}x: {met}"
        )
        results[f"{source}_per_second"] = round(statistics.median(per_second[source]))
    results["worst_vs_json_loads"] = max(worst)
    results["worst_vs_json_loads_note"] = f"the highest source ratio, target <= {TARGET}x"
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(args.rounds)
    for key, value in results.items():
        if not key.endswith("_note"):
            print(f"{key:<32} {value!s:>8}  {results.get(key + '_note', '')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
