"""Helpers shared by every source: ARNs, timestamps, statuses, containers, networks, limits."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from core.model.envelope import Envelope
from core.model.task import Container, Network, Observation, Task
from core.normalize.reader import Obj, bad

_Model = TypeVar("_Model", bound=BaseModel)
_Template = tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]
_TEMPLATES: dict[type[BaseModel], _Template | None] = {}
_UNKNOWN: Any = object()
_set = object.__setattr__
_new = object.__new__


def _template(cls: type[BaseModel]) -> _Template | None:
    """Every field in declaration order with its default, and the fields whose default is a factory."""
    if cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow":
        return None  # not a plain model: always validate
    template: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in cls.model_fields.items():
        template[name] = None if field.is_required() or field.default_factory else field.default
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
    return template, tuple(factories)


def checked(cls: type[_Model], **values: Any) -> _Model:
    """``cls(**values)`` for values the reader has already checked, without validating them again.

    Every value already has its field's type (``Obj``'s accessors, the helpers below and the
    normalizers build nothing else), so validation would return an equal model: this builds it as
    ``model_construct`` does (fields set, defaults, factories), minus its per-field Python loop.
    tests/normalize/test_normalize_models.py checks the equality on every fixture.
    """
    spec = _TEMPLATES.get(cls, _UNKNOWN)
    if spec is _UNKNOWN:
        spec = _TEMPLATES[cls] = _template(cls)
    if spec is None:
        return cls(**values)
    template, factories = spec
    data = {**template, **values}
    for name, factory in factories:
        if name not in values:
            data[name] = factory()
    model = _new(cls)
    _set(model, "__dict__", data)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


# re.ASCII: \d and \w must not match non-ASCII digits/letters in untrusted input.
_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_ACCOUNT = r"[0-9]{12}"
_NAME = r"[A-Za-z0-9_-]{1,255}"
_TASK_ARN = re.compile(
    rf"arn:({_PARTITION}):ecs:({_REGION}):({_ACCOUNT}):task/(?:({_NAME})/)?([A-Za-z0-9_-]{{1,64}})", re.ASCII
)
_CLUSTER_ARN = re.compile(rf"arn:({_PARTITION}):ecs:({_REGION}):({_ACCOUNT}):cluster/({_NAME})", re.ASCII)
_CLUSTER_NAME = re.compile(_NAME, re.ASCII)
_INSTANCE_ARN = re.compile(
    rf"arn:{_PARTITION}:ecs:({_REGION}):({_ACCOUNT}):container-instance/(?:{_NAME}/)?[A-Za-z0-9_-]{{1,64}}",
    re.ASCII,
)


class TaskRef(NamedTuple):
    """What a task ARN tells us; its account and region are the source of truth for the task.

    Immutable like a frozen dataclass, and about 0.6 µs cheaper to build, once per task in every report.
    """

    arn: str
    task_id: str
    partition: str
    region: str
    account_id: str
    cluster_name: str | None  # only in the new ARN format


def parse_task_arn(value: str | None, path: str) -> TaskRef:
    """Both formats: ``task/<uuid>`` (old) and ``task/<cluster>/<id>`` (new)."""
    if value is None:
        raise bad(path, "is required (a task ARN)")
    match = _TASK_ARN.fullmatch(value)
    if match is None:
        raise bad(path, "is not an ECS task ARN")
    partition, region, account, cluster, task_id = match.groups()
    return TaskRef(value, task_id, partition, region, account, cluster)


def resolve_cluster(value: str | None, ref: TaskRef, path: str) -> tuple[str | None, str | None]:
    """``(clusterArn, clusterName)`` from an ARN or a short name (EC2 reports ``ECS_CLUSTER`` as is).

    A short name becomes an ARN in the task's partition, region and account; without any value the
    cluster segment of a new-format task ARN is used. A task runs in a cluster of its own account
    and region, and a new-format task ARN names its cluster: a disagreement means a mixed-up report.
    """
    if value is None:
        value = ref.cluster_name
        if value is None:
            return None, None
    if value.startswith("arn:"):
        match = _CLUSTER_ARN.fullmatch(value)
        if match is None:
            raise bad(path, "is not an ECS cluster ARN")
        partition, region, account, name = match.groups()
        if (partition, region, account) != (ref.partition, ref.region, ref.account_id):
            raise bad(path, "is in another partition, region or account than the task")
    elif _CLUSTER_NAME.fullmatch(value) is None:
        raise bad(path, "is not a valid cluster name")
    else:
        name = value
    if ref.cluster_name is not None and name != ref.cluster_name:
        raise bad(path, "names another cluster than the task ARN")
    return f"arn:{ref.partition}:ecs:{ref.region}:{ref.account_id}:cluster/{name}", name


def container_instance_arn(value: str | None, ref: TaskRef, path: str) -> str | None:
    """Both ARN formats; the instance must share the task's account and region, or the report mixes hosts."""
    if value is None:
        return None
    match = _INSTANCE_ARN.fullmatch(value)
    if match is None:
        raise bad(path, "is not an ECS container instance ARN")
    if match.groups() != (ref.region, ref.account_id):
        raise bad(path, "is in another region or account than the task")
    return value


# The ECS agent's own mapping of its internal statuses to the backend lifecycle
# (``BackendStatus``): everything before RUNNING is PENDING. Keeping one vocabulary lets the
# store order snapshot and event statuses along the ECS lifecycle.
_PENDING_LIKE = frozenset({"NONE", "MANIFEST_PULLED", "PULLED", "CREATED"})


def lifecycle_status(value: str | None) -> str | None:
    if value is None:
        return None
    upper = value.upper()
    if upper in _PENDING_LIKE:
        return "PENDING"
    if upper == "RESOURCES_PROVISIONED":  # pause containers' steady state
        return "RUNNING"
    return upper


# ECS's ``LaunchType`` enum as RunTask, DescribeTasks, EventBridge and TMDE v4 spell it.
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def launch_type(value: str | None) -> str | None:
    """ECS's canonical spelling (``fargate``, ``Fargate`` -> ``FARGATE``), for every source.

    Only ASCII letters change case: ``str.upper`` would also turn look-alikes such as U+0131
    (dotless i) or U+017F (long s) into ASCII and so into a known value. A value ECS does not
    (yet) define is kept, upper-cased the same way: every ECS enum is upper snake case, so a
    future launch type groups and filters as one value whatever the case it arrived in.
    """
    if value is None:
        return None
    return value.translate(_ASCII_UPPER)


_KNOWN_TYPES = frozenset({"NORMAL", "CNI_PAUSE", "NAMESPACE_PAUSE", "EMPTY_HOST_VOLUME", "MANAGED_DAEMON"})
_INTERNAL_TYPES = frozenset({"CNI_PAUSE", "NAMESPACE_PAUSE", "EMPTY_HOST_VOLUME"})
_INTERNAL_PREFIXES = ("~internal~ecs", "ecs-service-connect-")


def container_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value if value in _KNOWN_TYPES else "OTHER"


def is_internal(name: str, ctype: str | None) -> bool:
    """Pause/namespace/volume containers and the Service Connect proxy: ECS's, not the app's."""
    return ctype in _INTERNAL_TYPES or name.startswith(_INTERNAL_PREFIXES)


def image_digest(image: str | None, image_id: str | None, launch_type: str | None) -> str | None:
    """The registry manifest digest, only where we know we have one.

    On EC2 ``ImageID`` is Docker's local image id (the config digest), not the manifest digest,
    so it is never reported as one. Fargate reports the manifest digest there. A reference
    pinned by digest (``repo@sha256:...``) names it on any launch type.
    """
    if image is not None and "@sha256:" in image:
        return image[image.index("@sha256:") + 1 :]
    if launch_type == "FARGATE" and image_id is not None and image_id.startswith("sha256:"):
        return image_id
    return None


def cpu_units_from_vcpu(value: float | None) -> str | None:
    """TMDE task ``Limits.CPU`` is vCPU (0.25); ECS APIs and events say CPU units ("256").

    ``units / 1024`` is exact in binary floating point, so rounding recovers the units. ``0`` is
    Go's "unset" (the key is omitempty) and reads as ``None``.
    """
    if value is None or value == 0:
        return None
    units = value * 1024
    if not math.isfinite(units) or units < 0:
        return None
    return str(round(units))


def memory_mib(value: float | None) -> str | None:
    """MiB as a decimal string (any size, 2^64-1 included: Python ints do not overflow)."""
    if value is None or value <= 0:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return str(value)


def parse_networks(doc: Obj, key: str = "Networks") -> list[Network]:
    """TMDE/introspection/metadata-file ``Networks``; awsvpc entries carry ENI properties (v4)."""
    out = []
    for net in doc.objs(key):
        out.append(
            checked(
                Network,
                network_mode=net.text("NetworkMode"),
                ipv4_addresses=net.texts("IPv4Addresses"),
                ipv6_addresses=net.texts("IPv6Addresses"),
                mac_address=net.text("MACAddress"),
                private_dns_name=net.text("PrivateDNSName"),
            )
        )
    return out


def sort_containers(containers: list[Container]) -> list[Container]:
    """Sources list containers in Go map order; a stable order keeps diffs and history quiet."""
    return sorted(containers, key=lambda c: (c.name, c.docker_id or ""))


def service_from_group(group: str | None) -> str | None:
    if group is not None and group.startswith("service:") and len(group) > len("service:"):
        return group[len("service:") :]
    return None


def observe(task: Task, env: Envelope) -> Observation:
    """Wrap a normalized task with what orders it: ``collectedAt`` then ``sequence``."""
    return checked(
        Observation,
        task=task,
        source=env.source,
        observed_at=env.collected_at,
        sequence=env.sequence,
        reason=env.reason,
        reporter=env.agent.instance_id,
    )


def check_unique(tasks: list[tuple[Task, str]]) -> list[Task]:
    """One observation per task per snapshot: the store writes a snapshot as one transaction."""
    seen: set[str] = set()
    for task, path in tasks:
        if task.task_arn in seen:
            raise bad(path, "names a task already in this snapshot")
        seen.add(task.task_arn)
    return [task for task, _ in tasks]
