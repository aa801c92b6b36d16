"""Source ``metadata-file``: ``$ECS_CONTAINER_METADATA_FILE`` (EC2 only, opt-in).

One file per container, so a snapshot describes the task plus that one container. Before the
agent marks the file ``READY`` it has no ``MetadataFileStatus`` key and no container id, image
or networks: those read as ``None``/empty, which is the truth at that moment.
"""

from __future__ import annotations

from core.model.envelope import Envelope
from core.model.task import Container, Observation, Task
from core.normalize.common import (
    checked,
    container_instance_arn,
    image_digest,
    is_internal,
    observe,
    parse_networks,
    parse_task_arn,
    resolve_cluster,
)
from core.normalize.reader import Obj, bad


def _container(doc: Obj) -> list[Container]:
    name = doc.text("ContainerName")
    if name is None:
        return []
    image = doc.text("ImageName")
    image_id = doc.text("ImageID")
    return [
        checked(
            Container,
            name=name,
            docker_id=doc.text("ContainerID"),
            internal=is_internal(name, None),
            image=image,
            image_id=image_id,
            image_digest=image_digest(image, image_id, None),  # EC2: ImageID is never the manifest digest
            networks=parse_networks(doc),
        )
    ]


def parse_file(doc: Obj) -> Task:
    ref = parse_task_arn(doc.text("TaskARN"), doc.at("TaskARN"))
    cluster_arn, cluster_name = resolve_cluster(doc.text("Cluster"), ref, doc.at("Cluster"))
    return checked(
        Task,
        task_arn=ref.arn,
        task_id=ref.task_id,
        account_id=ref.account_id,
        region=ref.region,
        cluster_arn=cluster_arn,
        cluster_name=cluster_name,
        family=doc.text("TaskDefinitionFamily"),
        revision=doc.text_or_int("TaskDefinitionRevision"),
        availability_zone=doc.text("AvailabilityZone"),
        container_instance_arn=container_instance_arn(
            doc.text("ContainerInstanceARN"), ref, doc.at("ContainerInstanceARN")
        ),
        containers=_container(doc),
    )


def normalize(env: Envelope) -> list[Observation]:
    if env.task is None:
        raise bad("task", "is required")
    return [observe(parse_file(Obj(env.task, "task")), env)]
