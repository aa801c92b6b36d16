"""The demo fleet of local mode: simulated ECS tasks, each reported by the real agent.

Every task is served by the emulator (metadata + container credentials) and reported by
``taskbeacon-agent once`` in its own process, so the demo walks the same path as production:
agent → SigV4 → gateway → ingest handler → DynamoDB engine. The credentials the emulator hands a
task are minted by local mode for that task's role session, so the caller = task rule holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from taskbeacon.emulator import Emulator, SimulatedTask, make_task_doc
from taskbeacon.local.principals import container_credentials
from taskbeacon.local.system import LocalSystem

AGENT_BUDGET_SECONDS = 20
PARALLEL_AGENTS = 6


@dataclass(frozen=True)
class DemoSpec:
    """One simulated task: where it runs, what it runs, and which metadata source reports it."""

    cluster: str
    launch_type: str
    family: str
    service: str | None
    image: str
    ip: str
    network_mode: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    stops: bool = False


@dataclass(frozen=True)
class _Service:
    cluster: str
    family: str
    service: str | None
    image: str
    launch_type: str
    network_mode: str
    subnet: int
    tags: dict[str, str]


# The first web task gets 10.0.1.10 (the README and `make run` search for it).
_SERVICES = (
    _Service(
        "demo-web",
        "web",
        "web",
        "public.ecr.aws/nginx/nginx:1.27",
        "FARGATE",
        "awsvpc",
        1,
        {"team": "storefront", "env": "demo"},
    ),
    _Service(
        "demo-web",
        "api",
        "api",
        "public.ecr.aws/docker/library/python:3.13-slim",
        "EC2",
        "awsvpc",
        2,
        {"team": "storefront"},
    ),
    _Service(
        "demo-batch",
        "worker",
        None,
        "public.ecr.aws/docker/library/busybox:1.37",
        "EC2",
        "bridge",
        3,
        {"team": "data"},
    ),
)
# Batch tasks rotate through the sources an older or differently configured EC2 task would use.
_BATCH_SOURCES = ("tmde-v4", "tmde-v3", "tmde-v2", "metadata-file")


def demo_specs(count: int) -> list[DemoSpec]:
    """``count`` tasks: web on Fargate, api on EC2 (awsvpc), batch workers on EC2 (bridge)."""
    specs: list[DemoSpec] = []
    for number in range(count):
        svc = _SERVICES[number % len(_SERVICES)]
        index = number // len(_SERVICES)
        batch = svc.network_mode == "bridge"
        specs.append(
            DemoSpec(
                cluster=svc.cluster,
                launch_type=svc.launch_type,
                family=svc.family,
                service=svc.service,
                image=svc.image,
                ip=f"10.0.{svc.subnet}.{10 + index}",
                network_mode=svc.network_mode,
                source=_BATCH_SOURCES[index % len(_BATCH_SOURCES)] if batch else "tmde-v4",
                tags=svc.tags,
                # Later v4/v3-reported batch jobs finish (file and v2 lack what a stop needs to show).
                stops=batch and index >= len(_BATCH_SOURCES) and index % len(_BATCH_SOURCES) < 2,
            )
        )
    return specs


@dataclass
class DemoFleet:
    """The running emulator behind the demo tasks; stop it when local mode stops."""

    emulator: Emulator
    tasks: list[SimulatedTask]
    failures: list[str]
    summary: str

    def stop(self) -> None:
        self.emulator.stop()


def run_demo_fleet(system: LocalSystem, count: int) -> DemoFleet:
    """Start the emulator, add ``count`` tasks and have the agent report each one to ``system``."""
    region, account = system.region, system.account_id

    def mint(task_arn: str) -> dict[str, Any]:
        return container_credentials(system.registry.task(task_arn))

    emulator = Emulator(credentials_provider=mint).start()
    specs = demo_specs(count)
    tasks = [
        emulator.add_task(
            make_task_doc(
                spec.cluster,
                spec.launch_type,
                account,
                region,
                spec.family,
                spec.service,
                spec.image,
                spec.ip,
                network_mode=spec.network_mode,
            ),
            tags=spec.tags,
        )
        for spec in specs
    ]
    with ThreadPoolExecutor(PARALLEL_AGENTS) as pool:
        failures = [
            f for f in pool.map(lambda pair: _report(system, *pair), zip(tasks, specs, strict=True)) if f
        ]
        # Some batch jobs finish: the agent reports them once more, now STOPPED with an exit code.
        stopping = [(t, s) for t, s in zip(tasks, specs, strict=True) if s.stops]
        for task, _spec in stopping:
            task.set_status("STOPPED", exit_code=0)
        failures += [f for f in pool.map(lambda pair: _report(system, *pair), stopping) if f]
    clusters = sorted({s.cluster for s in specs})
    launch_types = sorted({s.launch_type for s in specs})
    reported = len(specs) + len(stopping) - len(failures)
    summary = (
        f"{len(specs)} tasks in {', '.join(clusters)} ({' and '.join(launch_types)}), "
        f"{reported} snapshots accepted, {len(stopping)} tasks stopped since; emulator on {emulator.url}"
    )
    if failures:
        summary += f"; {len(failures)} reports FAILED, first: {failures[0]}"
    return DemoFleet(emulator, tasks, failures, summary)


def _report(system: LocalSystem, task: SimulatedTask, spec: DemoSpec) -> str | None:
    """Run ``taskbeacon-agent once`` as the task would; returns why it failed, or None."""
    env = {
        **_base_environment(),
        **task.env(),
        "TASKBEACON_ENDPOINT": system.url,
        "TASKBEACON_REGION": system.region,
    }
    command = [sys.executable, "-m", "taskbeacon_agent", "once", "--source", spec.source]
    if spec.tags:
        command.append("--with-tags")
    try:
        done = subprocess.run(
            [*command, "--budget", str(AGENT_BUDGET_SECONDS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=AGENT_BUDGET_SECONDS + 10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{spec.ip}: agent did not finish within {AGENT_BUDGET_SECONDS + 10} s"
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"{spec.ip}: agent exit {done.returncode}: {last_line}"
    return None


def _base_environment() -> dict[str, str]:
    """Only what a process needs to start: never the operator's AWS credentials or profile."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    return {name: os.environ[name] for name in keep if name in os.environ}
