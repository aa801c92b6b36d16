"""Runs every benchmark, prints a table, writes benchmarks/results/latest.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import cold_start, cost, fleet, normalize, store


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
    print("running fleet ...", file=sys.stderr, flush=True)
    results["fleet"] = fleet.run()  # local mode at fleet size: prints its figures beside their targets
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
    _targets(results)
    print(f"\nwritten to {out / 'latest.json'}")
    return _write_units_within_goal(results["cost"])


def _write_units_within_goal(cost_results: dict[str, object]) -> int:
    """Issue 16: ``make bench`` fails when a launch writes more than its goal of write units."""
    from benchmarks.cost import LAUNCH_WRU_GOAL

    wru = _num(cost_results.get("launch_write_units"))
    if wru > LAUNCH_WRU_GOAL:
        print(f"FAILED: {wru:g} write units a launch; the goal is at most {LAUNCH_WRU_GOAL}", file=sys.stderr)
        return 1
    return 0


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def _targets(results: dict[str, dict[str, object]]) -> None:
    """Issue 9's figures: each ratio beside its floor and its target (DESIGN section 6)."""
    rows: list[tuple[str, float, str, float]] = []
    cold = results.get("cold_start", {})
    for case in ("query", "ingest", "events"):
        if f"{case}_vs_floor" in cold:
            floor = (
                f"boto3 + client + GetItem, {cold['floor_ms']} ms; peak RSS"
                f" {cold.get(case + '_peak_rss_mib')} vs {cold.get('floor_peak_rss_mib')} MiB"
            )
            rows.append(
                (f"{case} handler cold start to first answer", _num(cold[f"{case}_vs_floor"]), floor, 1.3)
            )
    for key, value in results.get("normalize", {}).items():
        if key.endswith("_vs_json_loads") and not key.startswith("worst"):
            source = key.removesuffix("_vs_json_loads")
            rows.append((f"normalize + validate, {source}", _num(value), "json.loads", 5.0))
    for key, value in results.get("agent", {}).items():
        if key.endswith("_xFloor"):
            name = key.removesuffix("_xFloor").replace("_", " ")
            rows.append((f"agent {name}: workload starts", _num(value), "python3 execs it", 1.5))
    print(f"\n{'figure':<52} {'ratio':>7}  {'target':>7}  {'':4}  floor")
    for name, ratio, floor, target in rows:
        print(f"{name:<52} {ratio:>6.2f}x  {target:>6.1f}x  {'met' if ratio <= target else 'NOT':4}  {floor}")
    agent = results.get("agent", {})
    for key, target, unit in (("zipappBytes", 100_000, "bytes"), ("sidecarRssKiB", 18 * 1024, "KiB")):
        if key in agent:
            value = _num(agent[key])
            met = "met" if value <= target else "NOT"
            print(f"{'agent ' + key:<52} {value:>7.0f}  {target:>7}  {met:4}  {unit} (an absolute bound)")


if __name__ == "__main__":
    raise SystemExit(main())
