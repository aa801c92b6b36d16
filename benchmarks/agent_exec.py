"""Agent cost: time `exec` adds before the workload starts, and sidecar resident memory.

    .venv/bin/python benchmarks/agent_exec.py [--runs 15] [--json out.json]

Everything runs on loopback against the emulator (metadata + credentials) and a local API stub
answering 202. Ratios are against baselines measured in the same run, never absolute targets.
"""

from __future__ import annotations

import argparse
import json
import os
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


class _Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"taskIds":["x"]}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _time(cmd: list[str], env: dict[str, str], runs: int) -> float:
    """Median seconds from spawn until the workload (`true`) has run and the process exited."""
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def run(runs: int = 15) -> dict[str, Any]:
    """Measure; returns {"runs", "medianSeconds", "ratios", "zipappBytes", "sidecarRssKiB"}."""
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    emu = Emulator().start()
    task = emu.add_task(example("fargate")["task"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS_", "TASKBEACON_"))}
    env.update(task.env(), TASKBEACON_ENDPOINT=f"http://127.0.0.1:{api.server_address[1]}")
    env["PYTHONPATH"] = str(ROOT / "agent")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pyz = Path(tmp) / "taskbeacon-agent.pyz"
            build = [sys.executable, str(ROOT / "agent" / "build_zipapp.py"), str(pyz)]
            subprocess.run(build, check=True, capture_output=True)
            py = sys.executable
            cases = {
                "bare exec (true)": ["true"],
                "python3 -c pass": [py, "-c", "pass"],
                "agent exec, report then exec": [py, "-m", "taskbeacon_agent", "exec", "--", "true"],
                "agent exec --background": [
                    py,
                    "-m",
                    "taskbeacon_agent",
                    "exec",
                    "--background",
                    "--",
                    "true",
                ],
                "zipapp exec, report then exec": [py, str(pyz), "exec", "--", "true"],
            }
            results = {name: _time(cmd, env, runs) for name, cmd in cases.items()}
            size = pyz.stat().st_size
        sidecar = subprocess.Popen(
            [sys.executable, "-m", "taskbeacon_agent", "sidecar", "--interval", "0.2", "--with-stats"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(3)  # several poll cycles, stats included
        rss = _rss_kib(sidecar.pid)
        sidecar.terminate()
        sidecar.wait(timeout=15)
    finally:
        emu.stop()
        api.shutdown()
    bare, py_base = results["bare exec (true)"], results["python3 -c pass"]
    ratios = {name: {"xBare": secs / bare, "xPython": secs / py_base} for name, secs in results.items()}
    return {
        "runs": runs,
        "medianSeconds": results,
        "ratios": ratios,
        "zipappBytes": size,
        "sidecarRssKiB": rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = run(args.runs)
    print(f"{'case':34} {'median ms':>10} {'x bare':>8} {'x python':>9}")
    for name, secs in out["medianSeconds"].items():
        r = out["ratios"][name]
        print(f"{name:34} {secs * 1000:10.1f} {r['xBare']:8.1f} {r['xPython']:9.2f}")
    print(f"zipapp size: {out['zipappBytes']} bytes; sidecar RSS: {out['sidecarRssKiB']} KiB")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
