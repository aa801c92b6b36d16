"""One process that plays the agent of many demo tasks: the real agent's code, in threads.

A process per task (``taskbeacon-agent once``) costs about 30 MB and a Python start each: 1,000
demo tasks would need 30 GB and minutes. Here one child process runs the agent's own ``Reporter``
(metadata from the emulator, credentials from its credentials endpoint, SigV4, retries that honour
``Retry-After``) for each task in turn, ``PARALLEL`` at a time, so what reaches the gateway is
what the agent sends. It reads its jobs as one JSON document on stdin and writes the failures as
one JSON list on stdout.

``play`` starts that child from local mode; ``python -m taskbeacon.local.fleet`` is the child.
"""

from __future__ import annotations

import io
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

PARALLEL = 12  # reports in flight from the one process: enough to keep the gateway's turns busy
CALL_TIMEOUT_SECONDS = 8.0
BUDGET_SECONDS = 30.0

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    """One task's report: the environment ECS gives its container, and the agent's options."""

    name: str  # how a failure names the task
    env: dict[str, str]
    source: str
    with_tags: bool


def parallel_map(function: Callable[[T], R], items: Iterable[T], parallel: int) -> list[R]:
    """``map`` over daemon threads: a Ctrl-C ends the process at once instead of waiting for them
    (a ThreadPoolExecutor's workers are joined at exit)."""
    todo: queue.Queue[tuple[int, T]] = queue.Queue()
    for entry in enumerate(items):
        todo.put(entry)
    results: dict[int, R] = {}
    count = todo.qsize()

    def work() -> None:
        while True:
            try:
                index, item = todo.get_nowait()
            except queue.Empty:
                return
            results[index] = function(item)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(parallel, count)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[index] for index in range(count)]


def report(job: Job) -> str | None:
    """Report one task as ``taskbeacon-agent once`` would; why it failed, or None."""
    from taskbeacon_agent.config import Config
    from taskbeacon_agent.reporter import Reporter

    err = io.StringIO()
    config = Config(
        job.env,
        source=job.source,
        with_tags=job.with_tags,
        budget=BUDGET_SECONDS,
        timeout=CALL_TIMEOUT_SECONDS,
        err=err,
    )
    code = Reporter(config, "once").report("start", BUDGET_SECONDS)
    if code == 0:
        return None
    last = (err.getvalue().strip().splitlines() or ["(no output)"])[-1]
    return f"{job.name}: agent exit {code}: {last}"


class Player:
    """The child process, started and stopped by local mode (``stop`` ends it at once)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def play(self, jobs: list[Job], environment: dict[str, str]) -> list[str]:
        """Report every job from one child process; returns the failures."""
        if not jobs or self._stopped:
            return []
        document = json.dumps({"parallel": PARALLEL, "jobs": [asdict(job) for job in jobs]}).encode()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "taskbeacon.local.fleet"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        out, err = self._process.communicate(document)
        code, self._process = self._process.returncode, None
        if code != 0:
            tail = (err.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            return [f"fleet player exit {code}: {tail}"]
        return [str(failure) for failure in json.loads(out or b"[]")]

    def stop(self) -> None:
        self._stopped = True
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()


def main() -> int:
    try:
        document: dict[str, Any] = json.load(sys.stdin)
        jobs = [Job(**job) for job in document["jobs"]]
        failures = parallel_map(report, jobs, int(document.get("parallel", PARALLEL)))
    except KeyboardInterrupt:
        return 130
    json.dump([failure for failure in failures if failure], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
