"""Realistic TMDE documents with consistent, deterministic identifiers.

Shapes follow the ECS agent's v4 response structs and the shared fixtures (see
shared/notes/ecs-metadata.md): EC2 reports a short cluster name, 64-hex Docker IDs, `ecs-...`
Docker names and a CNI_PAUSE container for awsvpc; Fargate reports the cluster ARN, `<taskid>-<10
digits>` Docker IDs, task-level ClockDrift/EphemeralStorageMetrics and no pause container.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import uuid
from typing import Any

V4_ONLY_TASK_KEYS = (
    "LaunchType",
    "VPCID",
    "ServiceName",
    "Errors",
    "FaultInjectionEnabled",
    "AvailabilityZoneID",
)
V4_ONLY_CONTAINER_KEYS = ("ContainerARN", "LogDriver", "LogOptions", "Snapshotter", "RestartCount")
V4_ONLY_NETWORK_KEYS = (
    "AttachmentIndex",
    "MACAddress",
    "IPv4SubnetCIDRBlock",
    "IPv6SubnetCIDRBlock",
    "DomainNameServers",
    "DomainNameSearchList",
    "PrivateDNSName",
    "SubnetGatewayIpv4Address",
    "SubnetGatewayIpv6Address",
)


class Ids:
    """Deterministic hex/uuid/digit streams from a seed: same inputs, same ARNs, every run."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.n = 0

    def hex(self, length: int) -> str:
        out = ""
        while len(out) < length:
            self.n += 1
            out += hashlib.sha256(f"{self.seed}/{self.n}".encode()).hexdigest()
        return out[:length]

    def uuid(self) -> str:
        return str(uuid.UUID(self.hex(32)))

    def digits(self, length: int) -> str:
        return str(int(self.hex(16), 16))[:length].rjust(length, "1")


def rfc3339_nano(when: datetime.datetime, nanos: int = 0) -> str:
    """ECS style: RFC3339Nano with trailing zeros trimmed (so the digit count varies)."""
    when = when.astimezone(datetime.UTC)
    frac = f"{when.microsecond * 1000 + nanos % 1000:09d}".rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _network(mode: str, ip: str, region: str, ids: Ids) -> dict[str, Any]:
    if mode != "awsvpc":
        return {"NetworkMode": mode, "IPv4Addresses": [ip]}
    net = ipaddress.ip_network(f"{ip}/24", strict=False)
    gateway = str(next(net.hosts()))
    mac = ":".join([ids.hex(2) for _ in range(6)])
    return {
        "NetworkMode": "awsvpc",
        "IPv4Addresses": [ip],
        "AttachmentIndex": 0,
        "MACAddress": "0e" + mac[2:],
        "IPv4SubnetCIDRBlock": str(net),
        "PrivateDNSName": "ip-{}.{}.compute.internal".format(ip.replace(".", "-"), region),
        "SubnetGatewayIpv4Address": f"{gateway}/24",
    }


def _pause(
    family: str,
    revision: int,
    labels: dict[str, str],
    created: datetime.datetime,
    network: dict[str, Any],
    ids: Ids,
) -> dict[str, Any]:
    return {
        "DockerId": ids.hex(64),
        "Name": "~internal~ecs~pause",
        "DockerName": f"ecs-{family}-{revision}-internalecspause-{ids.hex(20)}",
        "Image": "amazon/amazon-ecs-pause:0.1.0",
        "ImageID": "",
        "Labels": dict(labels, **{"com.amazonaws.ecs.container-name": "~internal~ecs~pause"}),
        "DesiredStatus": "RESOURCES_PROVISIONED",
        "KnownStatus": "RESOURCES_PROVISIONED",
        "Limits": {"CPU": 2, "Memory": 0},
        "CreatedAt": rfc3339_nano(created, 311),
        "StartedAt": rfc3339_nano(created + datetime.timedelta(seconds=1), 7),
        "Type": "CNI_PAUSE",
        "Networks": [network],
    }


def make_task_doc(
    cluster: str,
    launch_type: str,
    account_id: str,
    region: str,
    family: str,
    service: str | None = None,
    image: str = "public.ecr.aws/nginx/nginx:1.27",
    ip: str = "10.0.1.10",
    *,
    revision: int = 1,
    task_id: str | None = None,
    containers: list[dict[str, Any]] | None = None,
    network_mode: str | None = None,
    availability_zone: str | None = None,
    vpc_id: str = "vpc-0a1b2c3d4e5f67890",
    cpu: float | None = 0.25,
    memory: int | None = 512,
    known_status: str = "RUNNING",
    started_at: datetime.datetime | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """A v4 `/task` document.

    `containers`: [{"name", "image"?, "port"?}] (default: one "app" container with `image`).
    """
    if launch_type not in ("EC2", "FARGATE"):
        raise ValueError("launch_type must be EC2 or FARGATE")
    fargate = launch_type == "FARGATE"
    mode = "awsvpc" if fargate else (network_mode or "awsvpc")
    ids = Ids(seed or f"{account_id}/{region}/{cluster}/{family}/{service}/{ip}/{task_id}")
    task_id = task_id or ids.hex(32)
    cluster_name = cluster.rsplit("/", 1)[-1]
    cluster_arn = f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster_name}"
    task_arn = f"arn:aws:ecs:{region}:{account_id}:task/{cluster_name}/{task_id}"
    az = availability_zone or f"{region}{'abc'[int(ids.hex(2), 16) % 3]}"
    started = started_at or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    pull_start = started - datetime.timedelta(seconds=8)
    specs = containers or [{"name": "app", "image": image, "port": 80}]

    labels_base = {
        "com.amazonaws.ecs.cluster": cluster_arn if fargate else cluster_name,
        "com.amazonaws.ecs.task-arn": task_arn,
        "com.amazonaws.ecs.task-definition-family": family,
        "com.amazonaws.ecs.task-definition-version": str(revision),
    }
    out_containers: list[dict[str, Any]] = []
    bridge_ip = 2
    if mode == "awsvpc" and not fargate:
        out_containers.append(
            _pause(family, revision, labels_base, pull_start, _network(mode, ip, region, ids), ids)
        )
    for i, spec in enumerate(specs):
        name = str(spec["name"])
        docker_id = f"{task_id}-{ids.digits(10)}" if fargate else ids.hex(64)
        c_image = str(spec.get("image") or image)
        c_ip = ip if mode == "awsvpc" else f"172.17.0.{bridge_ip + i}"
        container: dict[str, Any] = {
            "DockerId": docker_id,
            "Name": name,
            "DockerName": name if fargate else f"ecs-{family}-{revision}-{name}-{ids.hex(20)}",
            "Image": c_image,
            "ImageID": "sha256:" + ids.hex(64),
            "Labels": dict(labels_base, **{"com.amazonaws.ecs.container-name": name}),
            "DesiredStatus": known_status,
            "KnownStatus": known_status,
            "Limits": {"CPU": 2} if fargate else {"CPU": 2, "Memory": 256},
            "CreatedAt": rfc3339_nano(started - datetime.timedelta(seconds=1), 41 + i),
            "StartedAt": rfc3339_nano(started, 503 + i),
            "Type": "NORMAL",
            "LogDriver": "awslogs",
            "LogOptions": {
                "awslogs-group": f"/ecs/{family}",
                "awslogs-region": region,
                "awslogs-stream": f"ecs/{name}/{task_id}",
            },
            "ContainerARN": f"{task_arn.replace(':task/', ':container/')}/{ids.uuid()}",
            "Networks": [_network(mode, c_ip, region, ids)],
        }
        port = spec.get("port")
        if port:
            host_port = int(port) if mode == "awsvpc" else 32768 + int(ids.hex(3), 16) % 28000
            container["Ports"] = [
                {"ContainerPort": int(port), "Protocol": "tcp", "HostPort": host_port, "HostIp": "0.0.0.0"}
            ]
        if fargate:
            container["Snapshotter"] = "overlayfs"
        if known_status == "STOPPED":
            container.update(ExitCode=0, FinishedAt=rfc3339_nano(datetime.datetime.now(datetime.UTC)))
        out_containers.append(container)

    doc: dict[str, Any] = {
        "Cluster": cluster_arn if fargate else cluster_name,
        "TaskARN": task_arn,
        "Family": family,
        "Revision": str(revision),
        "DesiredStatus": "STOPPED" if known_status == "STOPPED" else "RUNNING",
        "KnownStatus": known_status,
    }
    if not fargate and service:
        doc["ServiceName"] = service  # Fargate does not report it (per AWS docs)
    limits = {k: v for k, v in (("CPU", cpu), ("Memory", memory)) if v is not None}
    if limits or fargate:
        doc["Limits"] = limits or {"CPU": 0.25, "Memory": 512}
    doc.update(
        {
            "PullStartedAt": rfc3339_nano(pull_start, 438),
            "PullStoppedAt": rfc3339_nano(pull_start + datetime.timedelta(seconds=6), 650),
            "AvailabilityZone": az,
            "LaunchType": launch_type,
            "Containers": out_containers,
        }
    )
    doc.update(_platform_fields(fargate, vpc_id, started))
    return doc


def _platform_fields(fargate: bool, vpc_id: str, started: datetime.datetime) -> dict[str, Any]:
    if not fargate:
        return {"VPCID": vpc_id, "FaultInjectionEnabled": False}
    return {
        "ClockDrift": {
            "ClockErrorBound": 0.4,
            "ReferenceTimestamp": started.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ClockSynchronizationStatus": "SYNCHRONIZED",
        },
        "EphemeralStorageMetrics": {"Utilized": 261, "Reserved": 20496},
    }


def make_container_stats(docker_id: str, name: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """Docker stats (v1.30 shape) plus `network_rate_stats`, with values that move between reads."""
    now = now or datetime.datetime.now(datetime.UTC)
    tick = int(now.timestamp() * 10)
    usage = 40_000_000 + (tick % 1000) * 1000
    prev = now - datetime.timedelta(seconds=1)
    cpu = {
        "cpu_usage": {
            "total_usage": tick * 1_000_000,
            "usage_in_kernelmode": tick * 10_000,
            "usage_in_usermode": tick * 900_000,
        },
        "system_cpu_usage": tick * 20_000_000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "read": rfc3339_nano(now),
        "preread": rfc3339_nano(prev),
        "pids_stats": {"current": 3},
        "blkio_stats": {"io_service_bytes_recursive": [], "io_serviced_recursive": []},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": cpu,
        "memory_stats": {
            "usage": usage,
            "max_usage": usage + 5_000_000,
            "stats": {"rss": usage // 2},
            "limit": 18446744073709551615,
        },
        "name": "/" + name,
        "id": docker_id,
        "networks": {
            "eth0": {
                "rx_bytes": tick * 10,
                "rx_packets": tick,
                "rx_errors": 0,
                "rx_dropped": 0,
                "tx_bytes": tick * 7,
                "tx_packets": tick,
                "tx_errors": 0,
                "tx_dropped": 0,
            }
        },
        "network_rate_stats": {"rx_bytes_per_sec": 1024.5, "tx_bytes_per_sec": 512.25},
    }


def to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """v3/v2 responses are the v2 struct without the v4 additions (ECS agent: includeV4Metadata=false)."""
    out = {k: v for k, v in doc.items() if k not in V4_ONLY_TASK_KEYS}
    if isinstance(doc.get("Containers"), list):
        out["Containers"] = [container_to_v3(c) for c in doc["Containers"]]
    return out


def container_to_v3(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in c.items() if k not in V4_ONLY_CONTAINER_KEYS}
    if isinstance(c.get("Networks"), list):
        out["Networks"] = [
            {k: v for k, v in n.items() if k not in V4_ONLY_NETWORK_KEYS} for n in c["Networks"]
        ]
    if isinstance(c.get("Ports"), list):
        out["Ports"] = [{k: v for k, v in p.items() if k != "HostIp"} for p in c["Ports"]]
    return out


def introspection_task(doc: dict[str, Any]) -> dict[str, Any]:
    """The ECS agent introspection `/v1/tasks` shape (pause containers excluded, as the agent does)."""
    containers = []
    for c in doc.get("Containers") or []:
        if str(c.get("Name", "")).startswith("~internal~ecs"):
            continue
        item = {
            k: c[k]
            for k in ("DockerId", "DockerName", "Name", "Image", "ImageID", "CreatedAt", "StartedAt")
            if k in c
        }
        if c.get("Networks"):
            item["Networks"] = [
                {"NetworkMode": n.get("NetworkMode"), "IPv4Addresses": n.get("IPv4Addresses")}
                for n in c["Networks"]
            ]
        containers.append(item)
    return {
        "Arn": doc.get("TaskARN"),
        "DesiredStatus": doc.get("DesiredStatus"),
        "KnownStatus": doc.get("KnownStatus"),
        "Family": doc.get("Family"),
        "Version": doc.get("Revision"),
        "Containers": containers,
    }


def metadata_file(
    doc: dict[str, Any], container: dict[str, Any], container_instance_arn: str
) -> dict[str, Any]:
    """`ECS_CONTAINER_METADATA_FILE` contents once READY."""
    return {
        "Cluster": doc.get("Cluster"),
        "ContainerInstanceARN": container_instance_arn,
        "TaskARN": doc.get("TaskARN"),
        "TaskDefinitionFamily": doc.get("Family"),
        "TaskDefinitionRevision": doc.get("Revision"),
        "ContainerID": container.get("DockerId"),
        "ContainerName": container.get("Name"),
        "DockerContainerName": "/" + str(container.get("DockerName")),
        "ImageID": container.get("ImageID"),
        "ImageName": container.get("Image"),
        "PortMappings": [
            {
                "ContainerPort": p.get("ContainerPort"),
                "HostPort": p.get("HostPort"),
                "BindIp": "0.0.0.0",
                "Protocol": p.get("Protocol"),
            }
            for p in container.get("Ports") or []
        ],
        "Networks": [
            {"NetworkMode": n.get("NetworkMode"), "IPv4Addresses": n.get("IPv4Addresses")}
            for n in container.get("Networks") or []
        ],
        "MetadataFileStatus": "READY",
        "AvailabilityZone": doc.get("AvailabilityZone"),
        "HostPrivateIPv4Address": "10.0.0.5",
    }


def metadata_file_not_ready(
    doc: dict[str, Any], container: dict[str, Any], container_instance_arn: str
) -> dict[str, Any]:
    """`ECS_CONTAINER_METADATA_FILE` before READY: the first few keys, no `MetadataFileStatus`
    (INITIAL is dropped by omitempty), as in the shared fixture metadata-file-not-ready.json."""
    return {
        "Cluster": doc.get("Cluster"),
        "ContainerInstanceARN": container_instance_arn,
        "TaskARN": doc.get("TaskARN"),
        "ContainerName": container.get("Name"),
    }


def tag_error(field: str, resource_arn: str) -> dict[str, Any]:
    """One `Errors[]` entry of /taskWithTags when the ECS agent's ListTagsForResource call failed
    (the instance role lacks ecs:ListTagsForResource). RequestId is new on every read, as on ECS."""
    account = resource_arn.split(":")[4] if resource_arn.count(":") >= 5 else "111122223333"
    return {
        "ErrorField": field,
        "ErrorCode": "AccessDeniedException",
        "ErrorMessage": f"User: arn:aws:sts::{account}:assumed-role/ecsInstanceRole/i-0123456789abcdef0 "
        f"is not authorized to perform: ecs:ListTagsForResource on resource: {resource_arn}",
        "StatusCode": 400,
        "RequestId": str(uuid.uuid4()),
        "ResourceARN": resource_arn,
    }
