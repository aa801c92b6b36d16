"""Local mode at fleet size (issue 15 item 1): counts and ratios, each printed beside its target.

Two runs of ``taskbeacon local``, each its own process group as in a terminal:

1. ``--demo-tasks N`` (1,000): seconds until it prints "Ready.", the peak RSS of its processes
   (local mode, the fleet player, agents), then SIGINT to the group and seconds until all exit;
2. ``--demo-tasks 0`` under load: ``AGENTS`` (200) simulated agents, each posting a signed snapshot
   of its own task every second for ``SECONDS`` (60) with http.client, honouring Retry-After on
   429/503 as the agent does. Counted: reports accepted a second, p95 of accepted answers, resets,
   timeouts, 429 and 503 answers, RSS growth of local mode, and reports lost (a task whose stored
   ``lastSeenAt`` is older than its last accepted report, or that search by its IP does not find:
   the indexer not in step).

``TASKBEACON_BENCH_FLEET_TASKS``, ``_AGENTS`` and ``_SECONDS`` shrink it for a quick look.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASKS = int(os.environ.get("TASKBEACON_BENCH_FLEET_TASKS", "1000"))
AGENTS = int(os.environ.get("TASKBEACON_BENCH_FLEET_AGENTS", "200"))
SECONDS = float(os.environ.get("TASKBEACON_BENCH_FLEET_SECONDS", "60"))
READY_LIMIT_SECONDS = 900  # a safety net: a run that never gets ready is reported, not waited for
CALL_TIMEOUT_SECONDS = 10.0
TARGETS: dict[str, tuple[str, float, str]] = {
    # figure: (comparison, target, unit)
    "ready_seconds": ("<=", 60, "s, --demo-tasks N"),
    "ready_rss_peak_mb": ("<", 1024, "MB, all its processes"),
    "ctrl_c_exit_seconds": ("<=", 3, "s, SIGINT to all exited"),
    "load_resets": ("==", 0, "connections reset"),
    "load_timeouts": ("==", 0, f"calls over {CALL_TIMEOUT_SECONDS:g} s"),
    "load_p95_ms": ("<=", 1000, "ms, accepted answers"),
    "load_rss_growth_mb": ("<", 200, "MB"),
    "load_lost": ("==", 0, "accepted but not stored or not indexed"),
    "load_accepted_per_second": (">=", 100, "reports/s"),
}


def run() -> dict[str, object]:
    results: dict[str, object] = {"tasks": TASKS, "agents": AGENTS, "seconds": SECONDS}
    results.update(_ready(TASKS))
    results.update(_load(AGENTS, SECONDS))
    print(report(results))
    return results


def report(results: dict[str, object]) -> str:
    lines = [f"\n{'local mode at fleet size':<34} {'value':>10}  {'target':>10}"]
    for key, (op, target, unit) in TARGETS.items():
        value = results.get(key)
        if not isinstance(value, int | float):
            lines.append(f"{key:<34} {'-':>10}  {op} {target:<8} not measured  {unit}")
            continue
        met = {"<=": value <= target, "<": value < target, "==": value == target, ">=": value >= target}[op]
        lines.append(f"{key:<34} {value:>10.1f}  {op} {target:<8} {'met' if met else 'NOT met':8} {unit}")
    for key in ("load_accepted", "load_429", "load_503", "load_sent", "load_p50_ms"):
        lines.append(f"{key:<34} {results.get(key)!s:>10}")
    return "\n".join(lines)


# -- processes ---------------------------------------------------------------------------------


class _Local:
    """``taskbeacon local`` in its own process group, read line by line."""

    def __init__(self, demo_tasks: int) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="taskbeacon-bench-")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from taskbeacon.cli.main import main; sys.exit(main())",
                "local",
                "--port",
                "0",
                "--demo-tasks",
                str(demo_tasks),
                "--env-file",
                str(Path(self.directory.name) / "local.env"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a group of its own, as a terminal's foreground job
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.ready_at = 0.0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("Ready.") and not self.ready.is_set():
                self.ready_at = time.monotonic()
                self.ready.set()

    @property
    def url(self) -> str:
        for line in self.lines:
            found = re.search(r"API on (http://\S+)", line)
            if found:
                return found.group(1)
        raise RuntimeError("no API line in the output")

    def environment(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for line in (Path(self.directory.name) / "local.env").read_text().splitlines():
            found = re.fullmatch(r"export (\w+)=(.*)", line)
            if found:
                values[found.group(1)] = found.group(2)
        return values

    def interrupt(self) -> float:
        """SIGINT to the group (Ctrl-C); seconds until every process of it has exited."""
        began = time.monotonic()
        if self.process.poll() is not None:  # it ended by itself: nothing to interrupt
            self.directory.cleanup()
            return float("nan")
        os.killpg(self.process.pid, signal.SIGINT)
        deadline = began + 60
        while time.monotonic() < deadline and (self.process.poll() is None or _group_alive(self.process.pid)):
            time.sleep(0.05)
        spent = time.monotonic() - began
        if self.process.poll() is None or _group_alive(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.directory.cleanup()
        return spent


def _group_alive(group: int) -> bool:
    return bool(_group_pids(group))


def _group_pids(group: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # pgrp; zombies are gone but for a wait
            pids.append(int(entry.name))
    return pids


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def _ready(count: int) -> dict[str, object]:
    print(f"fleet: local mode with {count} demo tasks ...", file=sys.stderr, flush=True)
    local = _Local(count)
    peak = 0.0
    while not local.ready.wait(0.5):
        peak = max(peak, _rss_mb(_group_pids(local.process.pid)))
        if local.process.poll() is not None or time.monotonic() - local.started > READY_LIMIT_SECONDS:
            break
    peak = max(peak, _rss_mb(_group_pids(local.process.pid)))
    ready = local.ready_at - local.started if local.ready.is_set() else None
    summary = next((line for line in local.lines if "snapshots and" in line), "")
    exit_seconds = local.interrupt()
    if ready is None:
        print("fleet: not ready; its last lines:\n  " + "\n  ".join(local.lines[-8:]), file=sys.stderr)
    return {
        "ready_seconds": round(ready, 1) if ready is not None else None,
        "ready_rss_peak_mb": round(peak),
        "ctrl_c_exit_seconds": round(exit_seconds, 2),
        "ready_failed_reports": int(m.group(1)) if (m := re.search(r"(\d+) reports FAILED", summary)) else 0,
    }


# -- load --------------------------------------------------------------------------------------


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.counts = {"sent": 0, "accepted": 0, "429": 0, "503": 0, "resets": 0, "timeouts": 0, "other": 0}
        self.last_accepted: dict[str, str] = {}  # task id -> collectedAt of its last accepted report

    def add(self, key: str, latency: float | None = None) -> None:
        with self.lock:
            self.counts[key] += 1
            if latency is not None:
                self.latencies.append(latency)


def _load(agents: int, seconds: float) -> dict[str, object]:
    from taskbeacon.emulator import Emulator, make_task_doc

    print(f"fleet: {agents} agents reporting every second for {seconds:g} s ...", file=sys.stderr, flush=True)
    local = _Local(0)
    if not local.ready.wait(120):
        local.interrupt()
        return {"load_error": "local mode not ready"}
    env = local.environment()
    operator = (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    emulator = Emulator().start()
    docs = [
        make_task_doc(
            "bench",
            "FARGATE",
            "111122223333",
            "us-east-1",
            "load",
            "load",
            "public.ecr.aws/nginx/nginx:1.27",
            f"10.9.{n // 200}.{n % 200 + 10}",
        )
        for n in range(agents)
    ]
    tasks = [emulator.add_task(doc) for doc in docs]
    emulator.stop()  # only its documents are needed: the bench sends what the agent would
    url = local.url
    credentials = [_post_json(url, "/_local/credentials", {"taskArn": t.task_arn}, operator) for t in tasks]
    tally = _Tally()
    pid = local.process.pid
    rss_before = _rss_mb(_group_pids(pid))  # local mode and its engine's child process
    rss_peak = rss_before
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_agent,
            args=(url, task.task_arn, task.doc, creds, stop_at + n / agents, tally),
            daemon=True,
        )
        for n, (task, creds) in enumerate(zip(tasks, credentials, strict=True))
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        rss_peak = max(rss_peak, _rss_mb(_group_pids(pid)))
        time.sleep(0.5)
    elapsed = time.monotonic() - began
    lost = _lost(url, operator, tasks, tally)
    local.interrupt()
    latencies = sorted(tally.latencies)
    counts = tally.counts
    return {
        "load_sent": counts["sent"],
        "load_accepted": counts["accepted"],
        "load_accepted_per_second": round(counts["accepted"] / elapsed, 1),
        "load_p50_ms": _ms(_percentile(latencies, 0.50)),
        "load_p95_ms": _ms(_percentile(latencies, 0.95)),
        "load_resets": counts["resets"],
        "load_timeouts": counts["timeouts"],
        "load_429": counts["429"],
        "load_503": counts["503"],
        "load_other_errors": counts["other"],
        "load_rss_before_mb": round(rss_before),
        "load_rss_growth_mb": round(rss_peak - rss_before),
        "load_lost": lost,
    }


def _percentile(values: list[float], share: float) -> float | None:
    return values[min(len(values) - 1, int(len(values) * share))] if values else None


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _agent(
    url: str, task_arn: str, doc: dict[str, Any], creds: dict[str, Any], stop_at: float, tally: _Tally
) -> None:
    """One task's agent: a snapshot every second (keepalive), retried after Retry-After when refused."""
    from taskbeacon_agent.credentials import Credentials

    keys = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("Token"))
    task_id = task_arn.rsplit("/", 1)[-1]
    sequence = 0
    next_at = time.monotonic()
    while next_at < stop_at:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1.0
        sequence += 1
        collected = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        envelope = {
            "schemaVersion": 1,
            "source": "tmde-v4",
            "collectedAt": collected,
            "sequence": sequence,
            "reason": "start" if sequence == 1 else "keepalive",
            "agent": {"version": "bench", "mode": "sidecar", "instanceId": task_id},
            "task": doc,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        for _ in range(5):  # the agent retries refusals, waiting at least Retry-After
            status, retry_after, latency = _send(url, "/snapshots", body, keys, tally)
            if 200 <= status < 300:
                tally.add("accepted", latency)
                with tally.lock:
                    tally.last_accepted[task_id] = collected
                break
            if status in (429, 503):
                time.sleep(retry_after)
                continue
            break


def _send(url: str, path: str, body: bytes, keys: Any, tally: _Tally) -> tuple[int, float, float]:
    from taskbeacon_agent import sigv4

    headers = dict(
        sigv4.sign(
            "POST",
            url + path,
            [("Content-Type", "application/json")],
            body,
            credentials=keys,
            region="us-east-1",
        )
    )
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=CALL_TIMEOUT_SECONDS
    )
    began = time.monotonic()
    tally.add("sent")
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
    except TimeoutError:
        tally.add("timeouts")
        return 0, 1.0, 0.0
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, http.client.RemoteDisconnected):
        tally.add("resets")
        return 0, 1.0, 0.0
    except OSError:
        tally.add("other")
        return 0, 1.0, 0.0
    finally:
        connection.close()
    latency = time.monotonic() - began
    if answer.status in (429, 503):
        tally.add(str(answer.status))
        return answer.status, float(answer.getheader("Retry-After") or 1), latency
    if not 200 <= answer.status < 300:
        tally.add("other")
    return answer.status, 0.0, latency


def _post_json(url: str, path: str, document: Any, operator: tuple[str, str], method: str = "POST") -> Any:
    from taskbeacon_agent import sigv4
    from taskbeacon_agent.credentials import Credentials

    body = json.dumps(document).encode() if method == "POST" else b""
    for _ in range(20):
        headers = dict(
            sigv4.sign(
                method,
                url + path,
                [("Content-Type", "application/json")],
                body,
                credentials=Credentials(*operator),
                region="us-east-1",
            )
        )
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        if answer.status in (429, 503):
            time.sleep(float(answer.getheader("Retry-After") or 1))
            continue
        return json.loads(data) if answer.status == 200 else {"status": answer.status}
    return {"status": 429}


def _lost(url: str, operator: tuple[str, str], tasks: list[Any], tally: _Tally) -> int:
    """Tasks whose last accepted report is not what the store holds, or that search does not find."""
    lost = 0
    for task in tasks:
        task_id = task.task_arn.rsplit("/", 1)[-1]
        accepted = tally.last_accepted.get(task_id)
        if accepted is None:
            continue
        stored = _post_json(url, f"/tasks/{task_id}", None, operator, method="GET")
        seen = str(stored.get("lastSeenAt") or "")
        ip = task.doc["Containers"][0]["Networks"][0]["IPv4Addresses"][0]
        found = _post_json(url, f"/search?ip={ip}", None, operator, method="GET")
        indexed = any(task_id in json.dumps(item) for item in found.get("items", []))
        if seen[:19] < accepted[:19] or not indexed:
            lost += 1
    return lost
