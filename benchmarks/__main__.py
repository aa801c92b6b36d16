"""Runs every benchmark, prints a table, writes benchmarks/results/latest.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import cold_start, cost, normalize, store


def main() -> int:
    out = Path(__file__).with_name("results")
    previous: dict[str, dict[str, object]] = {}
    if (out / "latest.json").exists():  # keys other modules wrote (run alone) are kept
        try:
            previous = json.loads((out / "latest.json").read_text())
        except ValueError:
            previous = {}
    results: dict[str, dict[str, object]] = dict(previous)
    for name, run in (
        ("cold_start", cold_start.run),
        ("normalize", normalize.run),
        ("store", store.run),
    ):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run()
    results["cost"] = cost.run(results["store"])
    print(store.table(results["store"]))
    print(cost.report(results["cost"]))
    agent = Path(__file__).with_name("agent_exec.py")
    if agent.exists():
        from benchmarks import agent_exec

        print("running agent_exec ...", file=sys.stderr, flush=True)
        results["agent"] = agent_exec.run()
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"{'benchmark':<44} {'value':>16}  baseline / note")
    for group, values in results.items():
        if group in ("store", "cost"):
            continue  # printed above as tables
        for key, value in values.items():
            if key.endswith("_note"):
                continue
            note = values.get(f"{key}_note", "")
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{group + '.' + key:<44} {shown:>16}  {note}")
    print(f"\nwritten to {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
