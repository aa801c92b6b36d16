"""The TMDE task/container document, shared by v4, v3 and v2.

v3 and v2 answer with the same Go struct as v4 minus the v4-only keys (``LaunchType``,
``ContainerARN``, ``VPCID``, ``ServiceName``, awsvpc network properties), so one reader serves
all three: a key a version does not send is simply missing, hence ``None``.
"""

from __future__ import annotations

from core.model.task import Container, Task
from core.normalize.common import (
    checked,
    container_type,
    cpu_units_from_vcpu,
    image_digest,
    is_internal,
    launch_type,
    lifecycle_status,
    memory_mib,
    parse_networks,
    parse_task_arn,
    resolve_cluster,
    service_from_group,
    sort_containers,
)
from core.normalize.reader import Obj, bad

_TASK_ARN_LABEL = "com.amazonaws.ecs.task-arn"


def parse_container(doc: Obj, launch: str | None) -> Container:
    """``launch`` is the task's canonical launch type (it decides what ``ImageID`` means)."""
    name = doc.text("Name")
    if name is None:
        raise bad(doc.at("Name"), "is required")
    ctype = container_type(doc.text("Type"))
    image = doc.text("Image")
    image_id = doc.text("ImageID")
    health = doc.obj("Health")  # lower-case keys; status "" or absent means UNKNOWN
    return checked(
        Container,
        name=name,
        docker_id=doc.text("DockerId"),  # "" before the container is created
        container_arn=doc.text("ContainerARN"),
        type=ctype,
        internal=is_internal(name, ctype),
        image=image,
        image_id=image_id,
        image_digest=image_digest(image, image_id, launch),
        last_status=lifecycle_status(doc.text("KnownStatus")),
        exit_code=doc.integer("ExitCode"),
        created_at=doc.time("CreatedAt"),
        started_at=doc.time("StartedAt"),
        finished_at=doc.time("FinishedAt"),
        health_status=health.text("status") if health is not None else None,
        restart_count=doc.integer("RestartCount"),
        labels=doc.text_map("Labels"),
        networks=parse_networks(doc),
    )


def parse_task(doc: Obj, container_doc: Obj | None = None) -> Task:
    """One TMDE task document (``/task``, ``/taskWithTags``, one entry of ``/tasks``)."""
    ref = parse_task_arn(doc.text("TaskARN"), doc.at("TaskARN"))
    cluster_arn, cluster_name = resolve_cluster(doc.text("Cluster"), ref, doc.at("Cluster"))
    launch = launch_type(doc.text("LaunchType"))
    limits = doc.obj("Limits")
    tags = doc.text_map("TaskTags")
    containers = [parse_container(c, launch) for c in doc.objs("Containers")]
    if container_doc is not None:
        _add_reporting_container(containers, container_doc, ref.arn, launch)
    return checked(
        Task,
        task_arn=ref.arn,
        task_id=ref.task_id,
        account_id=ref.account_id,
        region=ref.region,
        cluster_arn=cluster_arn,
        cluster_name=cluster_name,
        family=doc.text("Family"),
        revision=doc.text_or_int("Revision"),
        # ServiceName: v4 EC2/MI; Group: MI /tasks; the ECS-managed tag: taskWithTags anywhere.
        service_name=doc.text("ServiceName")
        or service_from_group(doc.text("Group"))
        or tags.get("aws:ecs:serviceName")
        or None,
        launch_type=launch,
        availability_zone=doc.text("AvailabilityZone"),
        vpc_id=doc.text("VPCID"),
        desired_status=doc.text("DesiredStatus"),
        last_status=lifecycle_status(doc.text("KnownStatus")),
        cpu=cpu_units_from_vcpu(limits.number("CPU")) if limits is not None else None,
        memory=memory_mib(limits.number("Memory")) if limits is not None else None,
        pull_started_at=doc.time("PullStartedAt"),
        tags=tags,
        containers=sort_containers(containers),
    )


def _add_reporting_container(
    containers: list[Container], doc: Obj, task_arn: str, launch: str | None
) -> None:
    """The reporting container's own document (``${URI}``) fills in a container ``/task`` lacked.

    It must belong to this task: its ``com.amazonaws.ecs.task-arn`` label, when present, must
    name the same task, or the snapshot mixes two tasks.
    """
    container = parse_container(doc, launch)
    label = container.labels.get(_TASK_ARN_LABEL)
    if label is not None and label != task_arn:
        raise bad(doc.at("Labels"), "names a different task than task.TaskARN")
    for known in containers:
        same_id = container.docker_id is not None and known.docker_id == container.docker_id
        if same_id or (
            known.name == container.name and (known.docker_id is None or container.docker_id is None)
        ):
            return
    containers.append(container)
