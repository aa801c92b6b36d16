"""Local mode's sweep (DESIGN 3.8): the real sweep against an ECS- and STS-compatible endpoint.

``taskbeacon local --ecs-endpoint URL --sweep-targets ACCOUNT:REGION,...`` points the sweep at an
endpoint (moto's server models ECS and STS; another account is reached with ``AssumeRole`` of
``arn:aws:iam::<account>:role/<SWEEP_ROLE_NAME>-<region>`` there, as in AWS). Without
``--ecs-endpoint`` local mode uses moto in this process: the embedded DynamoDB engine's server
when that is moto (one server answers every service), else a moto server of its own.
``POST /_local/sweep`` (operator credentials) runs one sweep now, every target in this process
(no queue), delivers the table's stream to the indexer, and answers with the summary.

``MotoEcs`` creates tasks in an in-process moto ECS the way the demo and the tests need them. The
pinned moto cannot describe everything ECS says, so after ``RunTask`` it completes the task in moto's
own backend: RUNNING containers with a runtime id, repository digest and (awsvpc) the ENI's address,
the task's start, zone and ``version``. moto's ``RunTask`` of an awsvpc task fails
(``NetworkInterface`` has no ``private_dns_name``) in a VPC without DNS hostnames: awsvpc tasks run
in the default VPC's subnets, which have them. moto's own default advances a task one status per
``DescribeTasks``; in this process a task stays as created (an external moto server: set its
``ecs::task`` transition through ``/moto-api/state-manager/set-transition``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from taskbeacon.local.aws.engine import LOCAL_KEY

if TYPE_CHECKING:
    from core.sweep.targets import Target


class _Registry(Protocol):
    @property
    def account_id(self) -> str: ...


class Runtime(Protocol):
    """What the sweep needs of local mode's LambdaRuntime: its delivery of the stream to the indexer."""

    def note_write(self) -> None: ...

    def settle(self) -> None: ...


class Gateway(Protocol):
    """What the sweep needs of the local gateway that hands it ``POST /_local/sweep`` (a protocol, so
    the gateway, which imports this module for that route, is not imported back)."""

    @property
    def registry(self) -> _Registry: ...
    @property
    def region(self) -> str: ...
    @property
    def runtime(self) -> Runtime: ...


class LocalSystem(Protocol):
    """What the sweep needs of a started local system."""

    @property
    def dynamodb_endpoint(self) -> str | None: ...
    @property
    def engine(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def gateway(self) -> Any: ...


log = logging.getLogger("taskbeacon.local.sweep")

LOCAL_CALLS_PER_SECOND = 20.0  # a local endpoint shares no account's budget: ECS's sustained rate
DEFAULT_ROLE_NAME = "taskbeacon-sweep-reader"


def parse_targets(text: str) -> list[Target]:
    from taskbeacon.local.aws.engine import use_lambdas_source

    use_lambdas_source()
    from core.sweep.targets import parse_targets as parse

    return parse(text)


def _moto_in_process() -> None:
    """In this process, a moto task keeps the status it was given (moto's default: one step per describe)."""
    from moto.moto_api import state_manager

    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 2**62})


@dataclass
class LocalSweep:
    endpoint: str
    targets: list[Target]
    region: str
    runtime: Runtime | None = None  # local mode's: its delivery of the stream follows the sweep's writes
    role_name: str = DEFAULT_ROLE_NAME
    calls_per_second: float = LOCAL_CALLS_PER_SECOND
    in_process: bool = False  # the endpoint is moto in this process (MotoEcs may seed it)
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(
        cls,
        *,
        account_id: str,
        region: str,
        ecs_endpoint: str | None = None,
        targets: Sequence[Target] | None = None,
        moto_endpoint: str | None = None,
        runtime: Runtime | None = None,
    ) -> LocalSweep:
        """``moto_endpoint``: a moto server already running in this process (local mode's engine)."""
        from taskbeacon.local.aws.engine import use_lambdas_source

        use_lambdas_source()
        from core.sweep.targets import Target

        chosen = list(targets) if targets else [Target(account_id, region)]
        server = None
        in_process = False
        endpoint = ecs_endpoint
        if endpoint is None:
            endpoint = moto_endpoint
            if endpoint is None:
                from moto.server import ThreadedMotoServer

                logging.getLogger("werkzeug").setLevel(logging.ERROR)
                server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                server.start()
                host, port = server.get_host_and_port()
                endpoint = f"http://{host}:{port}"
            in_process = True
            _moto_in_process()
        return cls(
            endpoint=endpoint,
            targets=chosen,
            region=region,
            runtime=runtime,
            in_process=in_process,
            _server=server,
        )

    @classmethod
    def for_system(
        cls, system: LocalSystem, *, ecs_endpoint: str | None = None, targets: Sequence[Target] | None = None
    ) -> LocalSweep:
        """The sweep of a started local system; attached to its gateway for ``POST /_local/sweep``."""
        moto = system.dynamodb_endpoint if system.engine == "moto" else None
        sweep = cls.start(
            account_id=system.account_id,
            region=system.region,
            ecs_endpoint=ecs_endpoint,
            targets=targets,
            moto_endpoint=moto,
            runtime=system.gateway.runtime,
        )
        system.gateway.sweeper = sweep
        return sweep

    def describe(self) -> str:
        where = "moto in this process" if self.in_process else self.endpoint
        targets = ", ".join(str(target) for target in self.targets)
        return f"the sweep reads {targets} at {where} (POST /_local/sweep runs it)"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def service(self) -> Any:
        import boto3

        from core.store.coverage import CoverageStore
        from core.sweep.service import SweepService
        from handlers import wiring
        from taskbeacon.local import service_revisions

        coverage = CoverageStore(wiring.get_settings().table_name)
        sts = boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )
        return SweepService(
            recorder=wiring.recorder(),
            query=wiring.query_service(),
            coverage=coverage,
            role_name=self.role_name,
            calls_per_second=self.calls_per_second,
            sts=lambda: sts,
            ecs_endpoint=self.endpoint,
            client_hook=service_revisions.install,  # moto has no service deployments: drift needs them
        )

    def run(self, targets: Sequence[Target] | None = None) -> dict[str, Any]:
        """One sweep now, every target, in this process; the stream reaches the indexer before it answers."""
        from core.sweep.service import summary

        with self._lock:
            with _followed(self.runtime):
                results = self.service().sweep_now(list(targets) if targets else self.targets)
            if self.runtime is not None:
                try:
                    self.runtime.settle()
                except Exception:  # the writes landed; in AWS a failing indexer does not fail them either
                    log.exception("delivering the table's stream to the indexer failed")
        answer = summary(results)
        answer["endpoint"] = self.endpoint
        return answer


FOLLOW_SECONDS = 0.2  # how often a running sweep tells the stream's delivery that it wrote


@contextmanager
def _followed(runtime: Runtime | None) -> Iterator[None]:
    """While the sweep writes, local mode's delivery of the stream follows, as the deployed mapping
    follows every writer: the indexer does not wait for the sweep to end (at 1,000 demo tasks it
    indexed the sweep's 839 writes for 3.3 s after it). The sweep writes through its own recorder, not
    a handler invocation, so a ticker tells the runtime."""
    if runtime is None:
        yield
        return
    done = threading.Event()

    def tick() -> None:
        while not done.wait(FOLLOW_SECONDS):
            runtime.note_write()

    ticker = threading.Thread(target=tick, name="taskbeacon-sweep-follow", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        runtime.note_write()  # the last writes, whenever they landed
        ticker.join()


def handle(gateway: Gateway, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """``POST /_local/sweep`` (the gateway checked the operator's signature): ``{"targets"?: [...]}``."""
    sweep: LocalSweep | None = getattr(gateway, "sweeper", None)
    if sweep is None:
        sweep = LocalSweep.start(
            account_id=gateway.registry.account_id, region=gateway.region, runtime=gateway.runtime
        )
        gateway.sweeper = sweep  # type: ignore[attr-defined]
    targets = None
    wanted = document.get("targets")
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
            return _reply(
                HTTPStatus.BAD_REQUEST, _error("targets must be a list of ACCOUNT:REGION", "targets")
            )
        try:
            targets = parse_targets(",".join(wanted))
        except ValueError as error:
            return _reply(HTTPStatus.BAD_REQUEST, _error(str(error), "targets"))
    try:
        return _reply(HTTPStatus.OK, sweep.run(targets))
    except Exception as error:  # the endpoint is down, refuses us, ...: say so, as a gateway would
        log.exception("local sweep failed")
        return _reply(HTTPStatus.BAD_GATEWAY, _error(f"the sweep failed: {error}", None))


def _error(message: str, field: str | None) -> dict[str, Any]:
    from core.errors import error_body

    return error_body("sweep_failed" if field is None else "invalid_input", message, field)


def _reply(status: int, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return int(status), {"Content-Type": "application/json"}, json.dumps(document).encode()


# -- seeding an in-process moto ECS -------------------------------------------------------------
@dataclass(frozen=True)
class SeedTask:
    """One task to create in moto's ECS, with what ECS would say about it."""

    account: str
    region: str
    cluster: str
    family: str
    image: str
    launch_type: str  # FARGATE | EC2
    network_mode: str  # awsvpc | bridge
    service: str | None = None
    ip: str | None = None  # awsvpc: the ENI's private address
    tags: dict[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    version: int = 3
    task_id: str | None = None  # keep a given id (a task an agent or an event also reports)
    runtime_id: str | None = None
    image_digest: str | None = None
    container: str = "app"
    availability_zone: str | None = None


RUN_TASK_COUNT = 10  # RunTask's largest count


def _run_key(spec: SeedTask) -> tuple[Any, ...]:
    """What RunTask takes of a spec: specs with the same key can start in one call."""
    return (
        spec.account,
        spec.region,
        spec.cluster,
        spec.family,
        spec.network_mode,
        spec.launch_type,
        spec.image,
        spec.container,
        spec.service,
        tuple(sorted(spec.tags.items())),
    )


class MotoEcs:
    """Creates tasks in moto's ECS (in this process), each completed to what ECS itself would describe."""

    def __init__(self, endpoint: str, role_name: str = DEFAULT_ROLE_NAME) -> None:
        self.endpoint = endpoint
        self.role_name = role_name
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._instances: dict[tuple[str, str, str], int] = {}
        # What many tasks share is created once: a demo of 1,000 tasks would otherwise make 1,000
        # CreateCluster calls, 1,000 revisions of three task definitions and 1,000 network look-ups.
        self._clusters: set[tuple[str, str, str]] = set()
        self._definitions: dict[tuple[str, ...], str] = {}
        self._networks: dict[tuple[str, str], dict[str, Any]] = {}
        _moto_in_process()

    def client(self, service: str, account: str, region: str) -> Any:
        """A client in ``account`` (through AssumeRole at the endpoint, as moto tells accounts apart)."""
        key = (service, account, region)
        if key not in self._clients:
            import boto3

            from core.sweep.ecs import member_role_arn

            sts = boto3.client(
                "sts",
                endpoint_url=self.endpoint,
                region_name=region,
                aws_access_key_id=LOCAL_KEY,
                aws_secret_access_key=LOCAL_KEY,
            )
            role = member_role_arn(account, region, self.role_name)
            credentials = sts.assume_role(RoleArn=role, RoleSessionName="taskbeacon-demo")["Credentials"]
            self._clients[key] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
        return self._clients[key]

    def run(self, spec: SeedTask) -> str:
        """RunTask, then the task completed in moto's backend; returns its ARN."""
        return self.run_many([spec])[0]

    def run_many(self, specs: Sequence[SeedTask]) -> list[str]:
        """``run`` for many tasks, their ARNs in order: tasks RunTask would start alike (cluster, task
        definition, launch type, group, tags, network) start together, up to ``RUN_TASK_COUNT`` a call,
        as ECS's RunTask ``count`` allows; each is then completed to its own spec (id, address, ...).
        At 1,000 demo tasks this is 84 RunTask calls instead of 839."""
        alike: dict[tuple[Any, ...], list[int]] = {}
        for number, spec in enumerate(specs):
            alike.setdefault(_run_key(spec), []).append(number)
        arns: dict[int, str] = {}
        for numbers in alike.values():
            for start in range(0, len(numbers), RUN_TASK_COUNT):
                batch = numbers[start : start + RUN_TASK_COUNT]
                for number, arn in zip(batch, self._run_alike([specs[n] for n in batch]), strict=True):
                    arns[number] = arn
        return [arns[number] for number in range(len(specs))]

    def _run_alike(self, specs: list[SeedTask]) -> list[str]:
        spec = specs[0]
        ecs = self.client("ecs", spec.account, spec.region)
        cluster = (spec.account, spec.region, spec.cluster)
        if cluster not in self._clusters:
            ecs.create_cluster(clusterName=spec.cluster)
            self._clusters.add(cluster)
        request: dict[str, Any] = {
            "cluster": spec.cluster,
            "taskDefinition": self._definition(ecs, spec),
            "launchType": spec.launch_type,
            "group": f"service:{spec.service}" if spec.service else f"family:{spec.family}",
        }
        if spec.tags:
            request["tags"] = [{"key": key, "value": value} for key, value in spec.tags.items()]
        if spec.network_mode == "awsvpc":
            request["networkConfiguration"] = {"awsvpcConfiguration": self._default_network(spec)}
        arns: list[str] = []
        full = False
        while len(arns) < len(specs):
            if spec.launch_type == "EC2":
                self._ensure_instance(spec)
            tasks = ecs.run_task(**request, count=len(specs) - len(arns))["tasks"]
            if not tasks:
                if full:
                    raise RuntimeError(f"moto placed no task for {spec.family} in {spec.cluster}")
                full = True
                self._instances[cluster] = 0  # full: add an instance
                continue
            full = False
            for task in tasks:
                arns.append(self._complete(specs[len(arns)], task["taskArn"]))
        return arns

    def create_service(self, spec: SeedTask) -> str:
        """A service in moto's ECS running ``spec``'s task definition (it starts no task): what the
        sweep judges the service's tasks against (taskbeacon/local/service_revisions.py)."""
        ecs = self.client("ecs", spec.account, spec.region)
        if (spec.account, spec.region, spec.cluster) not in self._clusters:
            ecs.create_cluster(clusterName=spec.cluster)
            self._clusters.add((spec.account, spec.region, spec.cluster))
        answer = ecs.create_service(
            cluster=spec.cluster,
            serviceName=str(spec.service),
            taskDefinition=self._definition(ecs, spec),
            desiredCount=0,
            launchType=spec.launch_type,
        )
        return str(answer["service"]["serviceArn"])

    def _definition(self, ecs: Any, spec: SeedTask) -> str:
        """The task definition's ARN, registered on first use (one revision per distinct definition)."""
        key = (
            spec.account,
            spec.region,
            spec.family,
            spec.network_mode,
            spec.launch_type,
            spec.image,
            spec.container,
        )
        if key not in self._definitions:
            container: dict[str, Any] = {"name": spec.container, "image": spec.image, "memory": 128}
            definition: dict[str, Any] = {
                "family": spec.family,
                "networkMode": spec.network_mode,
                "containerDefinitions": [container],
            }
            if spec.launch_type == "FARGATE":
                definition.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
            registered = ecs.register_task_definition(**definition)["taskDefinition"]
            self._definitions[key] = str(registered["taskDefinitionArn"])
        return self._definitions[key]

    def _default_network(self, spec: SeedTask) -> dict[str, Any]:
        """The default VPC's first subnet and group: a VPC with DNS hostnames (moto needs them for an ENI)."""
        key = (spec.account, spec.region)
        if key not in self._networks:
            self._networks[key] = self._look_up_network(spec)
        return self._networks[key]

    def _look_up_network(self, spec: SeedTask) -> dict[str, Any]:
        ec2 = self.client("ec2", spec.account, spec.region)
        subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
        groups = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
        return {"subnets": [subnet["SubnetId"]], "securityGroups": [groups[0]["GroupId"]]}

    def _ensure_instance(self, spec: SeedTask) -> None:
        key = (spec.account, spec.region, spec.cluster)
        if self._instances.get(key):
            return
        from moto.ec2.models import ec2_backends

        ec2 = self.client("ec2", spec.account, spec.region)
        image = next(iter(ec2_backends[spec.account][spec.region].amis))  # DescribeImages lists ~1,300
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        document = json.dumps({"instanceId": instance, "region": spec.region})
        self.client("ecs", spec.account, spec.region).register_container_instance(
            cluster=spec.cluster, instanceIdentityDocument=document
        )
        self._instances[key] = self._instances.get(key, 0) + 1

    def _complete(self, spec: SeedTask, arn: str) -> str:
        from moto.ecs.models import ecs_backends

        backend: Any = ecs_backends[spec.account][spec.region]  # moto's own objects, untyped here
        tasks: dict[str, Any] = backend.tasks[spec.cluster]
        task = tasks[arn]
        if spec.task_id is not None:
            tasks.pop(arn)
            task.id = spec.task_id
            arn = task.task_arn
            tasks[arn] = task
        task.version = spec.version
        task.started_at = spec.started_at or datetime.now(UTC)
        task.availability_zone = spec.availability_zone or f"{spec.region}a"
        if spec.launch_type == "FARGATE":
            task.platform_version = "1.4.0"
        attachment: dict[str, Any] | None = next(
            (a for a in task.attachments if a.get("type") == "ElasticNetworkInterface"), None
        )
        if attachment is not None and spec.ip is not None:
            for pair in attachment["details"]:
                if pair["name"] == "privateIPv4Address":
                    pair["value"] = spec.ip
                elif pair["name"] == "privateDnsName":
                    pair["value"] = f"ip-{spec.ip.replace('.', '-')}.{spec.region}.compute.internal"
        for container in task.containers:
            container.last_status = "RUNNING"
            container.exitCode = None  # moto says 0 for a running container; ECS says nothing
            container.runtime_id = spec.runtime_id or f"{task.id}-{abs(hash(arn)) % 10**9}"
            container.image_digest = spec.image_digest
            if attachment is not None:
                address = spec.ip or next(
                    (p["value"] for p in attachment["details"] if p["name"] == "privateIPv4Address"), None
                )
                container.network_interfaces = [
                    {"attachmentId": attachment["id"], "privateIpv4Address": address}
                ]
        return arn


__all__ = ["LocalSweep", "MotoEcs", "SeedTask", "handle", "parse_targets"]
