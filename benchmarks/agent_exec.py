"""Agent cost: how long `exec` delays the workload, the zipapp's size, and sidecar resident memory.

    .venv/bin/python benchmarks/agent_exec.py [--runs 21] [--json out.json]

Everything runs on loopback against the emulator (metadata + credentials) and a local API stub
answering 202. Every figure is a ratio against a floor measured in the same run, as the median of
interleaved runs (one round runs every case once, in a shuffled order), never an absolute time:

- floor: the same interpreter running `python3 -c 'import os; os.execvp("true", ["true"])'`,
  i.e. a bare interpreter that execs the workload at once;
- each agent case: `python3 -m taskbeacon_agent exec -- true` and `python3 taskbeacon-agent.pyz exec
  -- true`, timed from spawn until `true` has run and exited (stdout/stderr to /dev/null, so a
  detached reporter that is still running does not count; it is waited for before the next sample,
  so it never steals the CPU from the next case).

Each case runs twice: with the interpreter as it is (the dev venv's `site` imports editable-install
finders, ~20 ms that inflate the floor) and with `-S` (no `site`: the strictest floor, close to a
slim container image). The API stub counts the snapshots that landed: the default `exec` must not
delay the workload *and* its report must land.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "agent")]

from taskbeacon.emulator import Emulator, example  # noqa: E402

EXEC_TARGET = 1.5  # x the floor (issue 9.2)
RSS_TARGET_KIB = 18 * 1024
ZIPAPP_TARGET_BYTES = 100 * 1000
FLOOR = "import os; os.execvp('true', ['true'])"


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posts = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"taskIds":["x"]}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with _Api.lock:
            _Api.posts += 1


def _wait_posts(n: int, timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _Api.posts >= n:
            return True
        time.sleep(0.002)
    return False


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def _cases(py: str, pyz: Path, env: dict[str, str]) -> dict[str, tuple[list[str], bool]]:
    """name -> (argv, whether it posts a snapshot)."""
    helped = subprocess.run(
        [py, "-m", "taskbeacon_agent", "exec", "--help"], env=env, capture_output=True, text=True, check=True
    ).stdout
    cases: dict[str, tuple[list[str], bool]] = {}
    for flag, tag in (([], ""), (["-S"], " -S")):
        cases["floor" + tag] = ([py, *flag, "-c", FLOOR], False)
        cases["package exec" + tag] = ([py, *flag, "-m", "taskbeacon_agent", "exec", "--", "true"], True)
        cases["zipapp exec" + tag] = ([py, *flag, str(pyz), "exec", "--", "true"], True)
    if "--foreground" in helped:  # the former default: report within --budget, then exec
        cases["package exec --foreground"] = (
            [py, "-m", "taskbeacon_agent", "exec", "--foreground", "--", "true"],
            True,
        )
    else:
        cases["package exec --background"] = (
            [py, "-m", "taskbeacon_agent", "exec", "--background", "--", "true"],
            True,
        )
    return cases


def _spawn(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU from wait4, so a detached reporter never counts."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def _interleaved(
    cases: dict[str, tuple[list[str], bool]], env: dict[str, str], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, int]]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    landed: dict[str, int] = {name: 0 for name, (_, posts) in cases.items() if posts}
    rng = random.Random(9)
    names = list(cases)
    for _ in range(runs):
        rng.shuffle(names)
        for name in names:
            argv, posts = cases[name]
            before = _Api.posts
            wall, used = _spawn(argv, env)
            samples[name].append(wall)
            cpu[name].append(used)
            if posts and _wait_posts(before + 1):
                landed[name] += 1
            time.sleep(0.05)  # let a detached reporter exit before the next sample
    return samples, cpu, landed


def _sidecar_memory(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    proc = subprocess.Popen(
        [*argv, "sidecar", "--interval", "0.2", "--with-stats"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(4)  # several poll cycles, stats included, after the start snapshot
        return {"rssKiB": _status_kib(proc.pid, "VmRSS"), "peakKiB": _status_kib(proc.pid, "VmHWM")}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def run(runs: int = 21) -> dict[str, Any]:
    """Measure. Returns ratios beside floors and targets (flat keys, `_note` beside each)."""
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    emu = Emulator().start()
    task = emu.add_task(example("fargate")["task"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    env.update(task.env(), TASKBEACON_ENDPOINT=f"http://127.0.0.1:{api.server_address[1]}")
    env["PYTHONPATH"] = str(ROOT / "agent")
    py = sys.executable
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pyz = Path(tmp) / "taskbeacon-agent.pyz"
            build = [py, str(ROOT / "agent" / "build_zipapp.py"), str(pyz)]
            subprocess.run(build, check=True, capture_output=True)
            cases = _cases(py, pyz, env)
            samples, cpu, landed = _interleaved(cases, env, runs)
            size = pyz.stat().st_size
            memory = {
                "package": _sidecar_memory([py, "-m", "taskbeacon_agent"], env),
                "zipapp -S": _sidecar_memory([py, "-S", str(pyz)], env),
            }
    finally:
        emu.stop()
        api.shutdown()
    medians = {name: statistics.median(s) for name, s in samples.items()}
    cpu_medians = {name: statistics.median(s) for name, s in cpu.items()}
    out: dict[str, Any] = {
        "runs": runs,
        "medianMs": {k: round(v * 1000, 2) for k, v in medians.items()},
        "cpuMedianMs": {k: round(v * 1000, 2) for k, v in cpu_medians.items()},
    }
    for name, secs in medians.items():
        if name.startswith("floor"):
            continue
        floor = medians["floor -S" if name.endswith(" -S") else "floor"]
        key = name.replace(" ", "_").replace("-", "")
        out[key + "_xFloor"] = round(secs / floor, 3)
        cpu_floor = cpu_medians["floor -S" if name.endswith(" -S") else "floor"]
        out[key + "_cpuXFloor"] = round(cpu_medians[name] / cpu_floor, 3)
        note = f"{secs * 1000:.1f} vs {floor * 1000:.1f} ms floor (median of {runs})"
        note += f"; target <= {EXEC_TARGET}x"
        if name in landed:
            note += f"; reports landed {landed[name]}/{runs}"
        out[key + "_xFloor_note"] = note
    out["zipappBytes"] = size
    out["zipappBytes_note"] = f"target <= {ZIPAPP_TARGET_BYTES}"
    out["sidecarRssKiB"] = memory["package"]["rssKiB"]
    pkg, pyz_mem = memory["package"], memory["zipapp -S"]
    out["sidecarRssKiB_note"] = (
        f"python -m, peak {pkg['peakKiB']} KiB; zipapp -S: {pyz_mem['rssKiB']} KiB "
        f"(peak {pyz_mem['peakKiB']}); target <= {RSS_TARGET_KIB}"
    )
    out["landed"] = landed
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = run(args.runs)
    print(f"{'case':28} {'wall ms':>8} {'x floor':>8} {'cpu ms':>7} {'x floor':>8}  note")
    for name, ms in out["medianMs"].items():
        key = name.replace(" ", "_").replace("-", "")
        ratio, cpu_ratio = out.get(key + "_xFloor"), out.get(key + "_cpuXFloor")
        shown = f"{ratio:8.2f}" if ratio is not None else f"{'floor':>8}"
        cpu_shown = f"{cpu_ratio:8.2f}" if cpu_ratio is not None else f"{'floor':>8}"
        cpu_ms = out["cpuMedianMs"][name]
        note = out.get(key + "_xFloor_note", "").split("; ", 1)[-1]
        print(f"{name:28} {ms:8.1f} {shown} {cpu_ms:7.1f} {cpu_shown}  {note}")
    print(f"zipapp size: {out['zipappBytes']} bytes ({out['zipappBytes_note']})")
    print(f"sidecar RSS: {out['sidecarRssKiB']} KiB ({out['sidecarRssKiB_note']})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
