"""The demo fleet of local mode: simulated ECS tasks, each reported by the real agent.

Every task is served by the emulator (metadata + container credentials) and reported by the
agent: the first ``REAL_AGENTS`` by ``taskbeacon-agent once``, each in its own process, the rest by
one fleet player process running the agent's code for each (a fleet of 1,000 in one process), so
the demo walks the same path as production:
agent → SigV4 → gateway → ingest handler → DynamoDB engine. The credentials the emulator hands a
task are minted by local mode for that task's role session, so the caller = task rule holds.

ECS also tells a deployed system about every task through EventBridge ("ECS Task State Change"),
and that is where a deployed inventory learns what no snapshot says (a Fargate task's service,
the launch type of tasks read through v2/v3/the metadata file, stop reasons and codes, exit
codes, repository image digests). The demo plays those events too, as the deployed rule delivers
them (RUNNING and, for finished jobs, STOPPED, with ``detail.version`` rising per task; ECS's
PENDING event is dropped by the rule, taskbeacon/local/aws/event_rule.py), through local mode's
events path (``POST /_local/events``, signed with the operator's credentials), so the demo shows
what a deployed system shows.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskbeacon.emulator import Emulator, SimulatedTask, make_task_doc
from taskbeacon.local.aws.event_rule import rule_passes
from taskbeacon.local.aws.principals import Principal, container_credentials
from taskbeacon.local.fleet import Job, Player, parallel_map
from taskbeacon.local.service_revisions import registry_digest
from taskbeacon.local.sweep import SeedTask
from taskbeacon.local.system import LocalSystem

if TYPE_CHECKING:
    from taskbeacon.local.sweep import LocalSweep

AGENT_BUDGET_SECONDS = 20
AGENT_CALL_TIMEOUT_SECONDS = 8
PARALLEL_AGENTS = 6
# The first tasks are reported by the real agent, each in its own process, as in production; the
# rest by one fleet player process running the agent's code for many tasks (taskbeacon/local/fleet.py).
REAL_AGENTS = 6
PARALLEL_EVENTS = 8
EVENT_ATTEMPTS = 5  # /_local/events answers 429 with Retry-After under pressure: try again
STARTED_SECONDS_AGO = 20
STOP_REASON = "Essential container in task exited"
STOP_CODE = "EssentialContainerExited"
# The demo's mirror in moto's ECS goes in chunks: a failure loses one chunk's tasks, not the rest.
MIRROR_CHUNK = 60


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
        block, offset = divmod(index, 240)  # 240 addresses a subnet; a bigger fleet spills into 10.10.x, ...
        specs.append(
            DemoSpec(
                cluster=svc.cluster,
                launch_type=svc.launch_type,
                family=svc.family,
                service=svc.service,
                image=svc.image,
                ip=f"10.{10 * block}.{svc.subnet}.{10 + offset}",
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


def run_demo_fleet(
    system: LocalSystem, count: int, *, sweep: LocalSweep | None = None, player: Player | None = None
) -> DemoFleet:
    """Start the emulator, add ``count`` tasks, play their lifecycle and have the agent report each.

    Per task, in the order a deployed system receives them: the agent's snapshot, the RUNNING event
    (ECS's PENDING event before them is dropped by the deployed rule, so it is not sent); a job
    that finishes is then reported once more by its agent (STOPPED, with an exit code) and ECS's
    STOPPED event follows with the stop reason and code.
    """
    region, account = system.region, system.account_id

    def mint(task_arn: str) -> dict[str, Any]:
        return container_credentials(system.registry.task(task_arn))

    emulator = Emulator(credentials_provider=mint).start()
    specs = demo_specs(count)
    tasks = [emulator.add_task(_task_doc(spec, account, region), tags=spec.tags) for spec in specs]
    lifecycles = [
        # The EC2 host the emulator's metadata file and introspection name for the task (one per
        # cluster, in the task's own region and account): its events name the same instance.
        _Lifecycle(task, spec, task.container_instance_arn if spec.launch_type == "EC2" else None, number)
        for number, (task, spec) in enumerate(zip(tasks, specs, strict=True))
    ]
    sender = _EventSender(system.url, system.operator, region)
    player = player or Player()

    def play_events(status: str, lives: list[_Lifecycle]) -> list[str]:
        return _failures(parallel_map(lambda life: sender.send(life.event(status)), lives, PARALLEL_EVENTS))

    failures = play_events("PENDING", lifecycles)  # not sent (the rule drops it); the version rises
    failures += _report_all(system, lifecycles, player)
    failures += play_events("RUNNING", lifecycles)
    # Some batch jobs finish: the agent reports them once more, now STOPPED with an exit code,
    # and ECS's STOPPED event says why.
    stopping = [life for life in lifecycles if life.spec.stops]
    for number, life in enumerate(stopping):
        life.task.set_status("STOPPED", exit_code=number % 2)
    failures += _report_all(system, stopping, player)
    failures += play_events("STOPPED", stopping)
    clusters = sorted({s.cluster for s in specs})
    launch_types = sorted({s.launch_type for s in specs})
    snapshots = len(specs) + len(stopping)
    events = len(specs) + len(stopping)  # RUNNING for each, STOPPED for the stopped: what the rule passes
    summary = (
        f"{len(specs)} tasks in {', '.join(clusters)} ({' and '.join(launch_types)}), "
        f"{snapshots} snapshots and {events} task state change events sent, "
        f"{len(stopping)} tasks stopped since; emulator on {emulator.url}"
    )
    if sweep is not None:
        text, more = _three_sources(system, sweep, sender, lifecycles)
        summary += f"; {text}"
        failures += more
    if failures:
        summary += f"; {len(failures)} reports FAILED, first: {failures[0]}"
    return DemoFleet(emulator, tasks, failures, summary)


# Tasks that only the sweep knows: they ran before taskbeacon (no agent, and no event since).
SWEEP_ONLY_CLUSTER = "demo-legacy"
_SWEEP_ONLY = (
    # family, service, launch type, network mode, image, IP
    ("billing", "billing", "FARGATE", "awsvpc", "public.ecr.aws/docker/library/httpd:2.4", "10.0.4.10"),
    ("billing", "billing", "FARGATE", "awsvpc", "public.ecr.aws/docker/library/httpd:2.4", "10.0.4.11"),
    ("reports", "reports", "EC2", "awsvpc", "public.ecr.aws/docker/library/python:3.13-slim", "10.0.5.10"),
    ("cron", None, "EC2", "bridge", "public.ecr.aws/docker/library/busybox:1.37", None),
)
SWEEP_ONLY_DAYS = 3  # started three days before the demo: found by IP at any moment since
# Drift: the sweep-only services exist in (moto's) ECS, and this task of theirs still runs the
# previous build of its image (the tag moved on): the demo's one drifted task.
DRIFTED_IP = "10.0.4.11"
# Tasks that only events know: a region whose events are forwarded but which the sweep does not read.
EVENT_ONLY_REGION = "us-west-2"
EVENT_ONLY_CLUSTER = "demo-west"
_EVENT_ONLY = (
    # family, service, launch type, network mode, IP, stops
    ("checkout", "checkout", "FARGATE", "awsvpc", "10.1.1.10", False),
    ("checkout", "checkout", "FARGATE", "awsvpc", "10.1.1.11", False),
    ("etl", None, "EC2", "bridge", "10.1.2.10", True),
)


def _three_sources(
    system: LocalSystem, sweep: LocalSweep, sender: _EventSender, lifecycles: list[_Lifecycle]
) -> tuple[str, list[str]]:
    """What ``make run`` adds so every source shows: the agent fleet also runs in (moto's) ECS, a
    cluster only the sweep knows, tasks in a region only events reach; then one sweep, as after a deploy."""
    failures: list[str] = []
    region, account = system.region, system.account_id
    sweep_only = 0
    services: set[str] = set()
    if sweep.in_process:
        from taskbeacon.local.sweep import MotoEcs

        moto = MotoEcs(sweep.endpoint, sweep.role_name)
        # The stopped ones stopped over an hour ago, as far as ECS remembers.
        mirrors = [_mirror(life, account, region) for life in lifecycles if not life.spec.stops]
        for start in range(0, len(mirrors), MIRROR_CHUNK):
            chunk = mirrors[start : start + MIRROR_CHUNK]
            try:
                moto.run_many(chunk)
            except Exception as error:  # the demo goes on; the banner says what failed
                names = f"{chunk[0].task_id} .. {chunk[-1].task_id}"
                failures.append(f"tasks {names}: ECS (moto) refused them: {error}")
        started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=SWEEP_ONLY_DAYS)
        for number, (family, service, launch, mode, image, ip) in enumerate(_SWEEP_ONLY):
            try:
                seed = SeedTask(
                    account=account,
                    region=region,
                    cluster=SWEEP_ONLY_CLUSTER,
                    family=family,
                    image=image,
                    launch_type=launch,
                    network_mode=mode,
                    service=service,
                    ip=ip,
                    tags={"team": "finance", "env": "demo"},
                    started_at=started + datetime.timedelta(minutes=number),
                    image_digest=image_digest(f"{image} (previous build)" if ip == DRIFTED_IP else image),
                    container=family,
                )
                moto.run(seed)
                if service is not None and seed.family not in services:
                    services.add(seed.family)
                    moto.create_service(seed)
                sweep_only += 1
            except Exception as error:
                failures.append(f"{SWEEP_ONLY_CLUSTER}/{family}: ECS (moto) refused the task: {error}")
    event_only = 0
    for number, (family, service, launch, mode, ip, stops) in enumerate(_EVENT_ONLY):
        doc = make_task_doc(
            EVENT_ONLY_CLUSTER,
            launch,
            account,
            EVENT_ONLY_REGION,
            family,
            service,
            "public.ecr.aws/docker/library/nginx:1.27",
            ip,
            network_mode=mode,
            started_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=30 + number),
        )
        group = f"service:{service}" if service else f"family:{family}"
        statuses = ("PENDING", "RUNNING", "STOPPED") if stops else ("PENDING", "RUNNING")
        for version, status in enumerate(statuses, start=1):
            problem = sender.send(task_state_change(doc, version=version, last_status=status, group=group))
            if problem:
                failures.append(problem)
        event_only += 1
    text = (
        f"{sweep_only} tasks only the sweep knows ({SWEEP_ONLY_CLUSTER}), "
        f"{event_only} only events know ({EVENT_ONLY_CLUSTER} in {EVENT_ONLY_REGION})"
    )
    if sweep.in_process:
        total = sweep.run()["total"]
        text += (
            f"; one sweep: {total.get('tasksSeen', 0)} tasks seen, {total.get('written', 0)} written, "
            f"{total.get('closed', 0)} closed, {total.get('calls', 0)} ECS calls"
        )
    return text, failures


def _mirror(life: _Lifecycle, account: str, region: str) -> SeedTask:
    """The agent-reported task as ECS describes it: same id, address, image, digest, version."""
    doc = life.task.doc
    apps = [c for c in doc.get("Containers") or [] if not str(c.get("Name")).startswith("~internal")]
    app = apps[0]
    started = _time(app.get("StartedAt"))
    return SeedTask(
        account=account,
        region=region,
        cluster=life.spec.cluster,
        family=life.spec.family,
        image=life.spec.image,
        launch_type=life.spec.launch_type,
        network_mode=life.spec.network_mode,
        service=life.spec.service,
        ip=life.spec.ip if life.spec.network_mode == "awsvpc" else None,
        tags=dict(life.spec.tags),
        started_at=started,
        version=life.version,  # the version its last event carried: ECS has nothing newer to say
        task_id=str(doc["TaskARN"]).rsplit("/", 1)[-1],
        runtime_id=str(app.get("DockerId")),
        image_digest=image_digest(life.spec.image),
        container=str(app.get("Name")),
        availability_zone=str(doc.get("AvailabilityZone") or ""),
    )


def _failures(results: Any) -> list[str]:
    return [result for result in results if result]


def _task_doc(spec: DemoSpec, account: str, region: str) -> dict[str, Any]:
    doc = make_task_doc(
        spec.cluster,
        spec.launch_type,
        account,
        region,
        spec.family,
        spec.service,
        spec.image,
        spec.ip,
        network_mode=spec.network_mode,
        # Started just now, so its events and its agent's snapshots tell one story in its history.
        started_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=STARTED_SECONDS_AGO),
    )
    if spec.launch_type == "FARGATE":
        # Fargate's ImageID is the repository manifest digest: the one its events carry.
        for container in doc["Containers"]:
            if not str(container.get("Name")).startswith("~internal"):
                container["ImageID"] = image_digest(str(container.get("Image")))
    return doc


def image_digest(image: str) -> str:
    """The demo registry's manifest digest of an image reference (one tag, one digest)."""
    return registry_digest(image)


def _uuid(seed: str) -> str:
    return str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))


@dataclass
class _Lifecycle:
    """One task's EventBridge events, built from what the emulator serves for it."""

    task: SimulatedTask
    spec: DemoSpec
    container_instance_arn: str | None
    number: int = 0  # its place in the demo fleet
    version: int = 0

    def event(self, last_status: str) -> dict[str, Any]:
        self.version += 1  # detail.version: every change of a task raises it
        return task_state_change(
            self.task.doc,
            version=self.version,
            last_status=last_status,
            group=f"service:{self.spec.service}" if self.spec.service else f"family:{self.spec.family}",
            container_instance_arn=self.container_instance_arn,
        )


def task_state_change(
    doc: dict[str, Any],
    *,
    version: int,
    last_status: str,
    group: str,
    container_instance_arn: str | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The "ECS Task State Change" event ECS sends for the task a v4 ``/task`` document describes.

    Shape as in tests/fixtures/ecs/eventbridge-task-state-change-fargate-running.json (the AWS
    example): DescribeTasks' Task in camelCase, ENI attachments for awsvpc, application
    containers only (ECS never lists pause containers), repository image digests, and for
    STOPPED the stop reason, stop code and exit codes.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    task_arn = str(doc["TaskARN"])
    region, account = task_arn.split(":")[3:5]
    cluster = str(doc["Cluster"]).rsplit("/", 1)[-1]
    launch_type = str(doc.get("LaunchType") or "EC2")
    stopped = last_status == "STOPPED"
    apps = [c for c in doc.get("Containers") or [] if not str(c.get("Name")).startswith("~internal")]
    started = min((t for c in apps if (t := _time(c.get("StartedAt")))), default=now)
    pull_started = _time(doc.get("PullStartedAt")) or started - datetime.timedelta(seconds=8)
    created = pull_started - datetime.timedelta(seconds=20)
    updated = {"PENDING": created + datetime.timedelta(seconds=10), "RUNNING": started}.get(last_status, now)

    awsvpc = next(
        (n for c in apps for n in c.get("Networks") or [] if n.get("NetworkMode") == "awsvpc"), None
    )
    attachments: list[dict[str, Any]] = []
    attachment_id = _uuid(f"{task_arn}/eni")
    if awsvpc is not None:
        ip = (awsvpc.get("IPv4Addresses") or [""])[0]
        details = {
            "subnetId": "subnet-"
            + hashlib.sha256(f"{cluster}/{ip.rsplit('.', 1)[0]}".encode()).hexdigest()[:17],
            "networkInterfaceId": "eni-" + hashlib.sha256(f"{task_arn}/eni".encode()).hexdigest()[:17],
            "macAddress": awsvpc.get("MACAddress"),
            "privateDnsName": awsvpc.get("PrivateDNSName"),
            "privateIPv4Address": ip,
        }
        attachments.append(
            {
                "id": attachment_id,
                "type": "eni",
                "status": {"PENDING": "PRECREATED", "STOPPED": "DELETED"}.get(last_status, "ATTACHED"),
                "details": [{"name": k, "value": v} for k, v in details.items() if v],
            }
        )

    containers = []
    for c in apps:
        container: dict[str, Any] = {
            "containerArn": c.get("ContainerARN")
            or f"arn:aws:ecs:{region}:{account}:container/{cluster}/{_uuid(task_arn + str(c.get('Name')))}",
            "lastStatus": last_status,
            "name": c.get("Name"),
            "image": c.get("Image"),
            "imageDigest": image_digest(str(c.get("Image"))),
            "taskArn": task_arn,
            "cpu": "0",
        }
        if last_status != "PENDING" and c.get("DockerId"):
            container["runtimeId"] = c["DockerId"]
        if awsvpc is not None:
            ips = [ip for n in c.get("Networks") or [] for ip in n.get("IPv4Addresses") or [] if ip]
            container["networkInterfaces"] = (
                [{"attachmentId": attachment_id, "privateIpv4Address": ips[0]}] if ips else []
            )
        elif last_status == "RUNNING":
            container["networkBindings"] = [
                {
                    "bindIP": p.get("HostIp", "0.0.0.0"),
                    "containerPort": p.get("ContainerPort"),
                    "hostPort": p.get("HostPort"),
                    "protocol": p.get("Protocol", "tcp"),
                }
                for p in c.get("Ports") or []
            ]
        if stopped:
            container["exitCode"] = int(c.get("ExitCode") or 0)
        containers.append(container)

    limits = doc.get("Limits") or {}
    detail: dict[str, Any] = {
        "attachments": attachments,
        "availabilityZone": doc.get("AvailabilityZone"),
        "clusterArn": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}",
        "containers": containers,
        "createdAt": _iso(created),
        "launchType": launch_type,
        "cpu": str(round(float(limits.get("CPU") or 0.25) * 1024)),
        "memory": str(limits.get("Memory") or 512),
        "desiredStatus": "STOPPED" if stopped else "RUNNING",
        "group": group,
        "lastStatus": last_status,
        "overrides": {"containerOverrides": [{"name": c.get("Name")} for c in apps]},
        "connectivity": "CONNECTED",
        "connectivityAt": _iso(created + datetime.timedelta(seconds=4)),
        "updatedAt": _iso(updated),
        "taskArn": task_arn,
        "taskDefinitionArn": (
            f"arn:aws:ecs:{region}:{account}:task-definition/{doc['Family']}:{doc['Revision']}"
        ),
        "version": version,
    }
    if launch_type == "FARGATE":
        detail.update(platformVersion="1.4.0", platformFamily="Linux")
    if container_instance_arn is not None:
        detail["containerInstanceArn"] = container_instance_arn
    if last_status != "PENDING":
        detail.update(
            pullStartedAt=_iso(pull_started),
            pullStoppedAt=_iso(pull_started + datetime.timedelta(seconds=6)),
            startedAt=_iso(started),
        )
    if stopped:
        stopping = max(now - datetime.timedelta(seconds=2), started)
        detail.update(
            stoppingAt=_iso(stopping),
            executionStoppedAt=_iso(stopping + datetime.timedelta(seconds=1)),
            stoppedAt=_iso(now),
            stoppedReason=STOP_REASON,
            stopCode=STOP_CODE,
        )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": account,
        "time": updated.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [task_arn],
        "detail": detail,
    }


def _time(value: Any) -> datetime.datetime | None:
    """A TMDE timestamp (RFC 3339, up to nanoseconds) as an aware datetime; None if absent."""
    if not value:
        return None
    return datetime.datetime.fromisoformat(str(value)).astimezone(datetime.UTC)


def _iso(when: datetime.datetime) -> str:
    """EventBridge style: milliseconds, UTC, ``Z``."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _EventSender:
    """Delivers events to local mode's ``POST /_local/events``, signed as the operator (SigV4)."""

    def __init__(self, base_url: str, operator: Principal, region: str) -> None:
        self.url = base_url.rstrip("/") + "/_local/events"
        self.operator = operator
        self.region = region

    def send(self, event: dict[str, Any]) -> str | None:
        """Returns why the event was not accepted, or None. An event the deployed rule does not pass
        (PENDING, a stop announced while running) is not sent, as EventBridge would not deliver it."""
        if not rule_passes(event):
            return None
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        body = json.dumps(event).encode()
        credentials = Credentials(
            self.operator.access_key, self.operator.secret_key, self.operator.session_token
        )
        what = f"{event['detail']['taskArn'].rsplit('/', 1)[-1]} {event['detail']['lastStatus']} event"
        for attempt in range(EVENT_ATTEMPTS):
            request = AWSRequest(
                method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"}
            )
            SigV4Auth(credentials, "execute-api", self.region).add_auth(request)
            http = urllib.request.Request(
                self.url, data=body, method="POST", headers=dict(request.headers.items())
            )
            try:
                with urllib.request.urlopen(http, timeout=30) as response:
                    reply = json.loads(response.read() or b"{}")
                    return None if reply.get("accepted") else f"{what}: {reply}"
            except urllib.error.HTTPError as error:
                text = error.read().decode(errors="replace")
                if error.code in (429, 503) and attempt + 1 < EVENT_ATTEMPTS:
                    time.sleep(min(float(error.headers.get("Retry-After") or 1), 5.0))
                    continue
                return f"{what}: HTTP {error.code} {text[:200]}"
            except (OSError, ValueError) as error:
                return f"{what}: {error}"
        return f"{what}: still refused after {EVENT_ATTEMPTS} attempts"


def _report_all(system: LocalSystem, lifecycles: list[_Lifecycle], player: Player) -> list[str]:
    """Each task's snapshot: the first ``REAL_AGENTS`` by agent processes, the rest by the player."""
    real = [life for life in lifecycles if life.number < REAL_AGENTS]
    played = [
        Job(
            name=life.spec.ip,
            env=_agent_env(system, life.task),
            source=life.spec.source,
            with_tags=bool(life.spec.tags),
        )
        for life in lifecycles
        if life.number >= REAL_AGENTS
    ]
    both: list[Any] = [
        lambda: _failures(
            parallel_map(lambda life: _report(system, life.task, life.spec), real, PARALLEL_AGENTS)
        ),
        lambda: player.play(played, _base_environment()),
    ]
    return [failure for part in parallel_map(lambda run: run(), both, 2) for failure in part]


def _agent_env(system: LocalSystem, task: SimulatedTask) -> dict[str, str]:
    """What the agent in the task's container sees: ECS's variables and where to report."""
    return {**task.env(), "TASKBEACON_ENDPOINT": system.url, "TASKBEACON_REGION": system.region}


def _report(system: LocalSystem, task: SimulatedTask, spec: DemoSpec) -> str | None:
    """Run ``taskbeacon-agent once`` as the task would; returns why it failed, or None."""
    env = {**_base_environment(), **_agent_env(system, task)}
    # One machine runs the whole system and every agent at once here, so an answer can take longer
    # than the agent's 2 s default; a timed-out agent would resend (harmless, but noisy and slower).
    command = [
        sys.executable,
        "-m",
        "taskbeacon_agent",
        "once",
        "--source",
        spec.source,
        "--timeout",
        str(AGENT_CALL_TIMEOUT_SECONDS),
    ]
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
