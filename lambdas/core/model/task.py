"""The ``Task`` model of DESIGN section 4. Unknown values are ``None``, never invented.

Field names are snake_case in Python and camelCase on the wire (``by_alias``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ContainerType = Literal[
    "NORMAL", "CNI_PAUSE", "NAMESPACE_PAUSE", "EMPTY_HOST_VOLUME", "MANAGED_DAEMON", "OTHER"
]
Source = Literal["tmde-v4", "tmde-v3", "tmde-v2", "metadata-file", "introspection", "event", "ecs-api"]


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Network(_Wire):
    network_mode: str | None = None
    ipv4_addresses: list[str] = Field(default_factory=list)
    ipv6_addresses: list[str] = Field(default_factory=list)
    mac_address: str | None = None
    private_dns_name: str | None = None
    eni: str | None = None


class Container(_Wire):
    name: str
    docker_id: str | None = None
    container_arn: str | None = None
    type: str | None = None
    internal: bool = False  # pause/namespace/volume containers: kept, marked, not counted as app containers
    image: str | None = None
    image_id: str | None = None
    image_digest: str | None = None
    last_status: str | None = None
    exit_code: int | None = None
    reason: str | None = (
        None  # why it stopped, as ECS says it (e.g. "OutOfMemoryError: Container killed ...")
    )
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    health_status: str | None = None
    restart_count: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    networks: list[Network] = Field(default_factory=list)


class Facts(_Wire):
    """Values of the fields AWS owns, as a set per kind: what one side (AWS, or the task) stated."""

    ips: list[str] = Field(default_factory=list)
    enis: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    image_digests: list[str] = Field(default_factory=list)


class Sources(_Wire):
    """Where the task's facts came from (DESIGN 3.9): per group of fields, which of ``agent``,
    ``event``, ``ecs-api`` stated it; what AWS confirmed; what only the task said (``unconfirmed``:
    self-reported values AWS never stated, contradicted ones included, never hiding AWS's)."""

    status: list[str] = Field(default_factory=list)
    network: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    confirmed: Facts = Field(default_factory=Facts)
    self_reported: Facts = Field(default_factory=Facts)
    unconfirmed: Facts = Field(default_factory=Facts)


class ContainerDrift(_Wire):
    """One container of a judged task: the digest ECS resolved for the service revision, the one the
    container runs, and whether they differ (unknown on either side: not judged, never drifted)."""

    name: str
    expected_digest: str | None = None
    actual_digest: str | None = None
    drifted: bool = False


class Drift(_Wire):
    """The verdict of the sweep (``core.logic.drift``): does the task run what its service's current
    deployment asked for? ``since`` is when this verdict was first reached; a sweep that reaches the
    same verdict changes nothing (docs/decisions.md "Drift")."""

    drifted: bool
    service_revision_arn: str
    service_deployment_arn: str
    expected_task_definition: str
    containers: list[ContainerDrift] = Field(default_factory=list)
    task_definition_drifted: bool = False
    since: datetime
    source: Literal["ecs-api"] = "ecs-api"


class Task(_Wire):
    task_arn: str
    task_id: str
    account_id: str
    region: str
    cluster_arn: str | None = None
    cluster_name: str | None = None
    family: str | None = None
    revision: str | None = None
    service_name: str | None = None
    launch_type: str | None = None
    platform_version: str | None = None
    availability_zone: str | None = None
    vpc_id: str | None = None
    desired_status: str | None = None
    last_status: str | None = None
    health_status: str | None = None
    cpu: str | None = None
    memory: str | None = None
    pull_started_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None
    stopped_reason: str | None = None
    stop_code: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    container_instance_arn: str | None = None
    containers: list[Container] = Field(default_factory=list)
    # Bookkeeping filled by the store, not by normalizers.
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_source: str | None = None
    reporters: list[str] = Field(default_factory=list)
    sources: Sources = Field(default_factory=Sources)
    stale: bool = False
    # Judged by the sweep only (None: never judged, e.g. a standalone task); every other report keeps it.
    drift: Drift | None = None


class Observation(BaseModel):
    """One normalized report about one task, with what orders it against other reports.

    Snapshots are ordered by (``observed_at``, ``sequence``); events by ``event_version``
    (EventBridge ``detail.version``) and then ``observed_at``.
    """

    task: Task
    source: Source
    observed_at: datetime
    sequence: int = 0
    event_version: int | None = None
    reason: str | None = None  # start | change | keepalive | stop (snapshots only)
    reporter: str | None = None  # agent instanceId, or "eventbridge"
