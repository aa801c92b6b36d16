"""Source ``introspection``: the agent's ``GET :51678/v1/tasks`` (host daemon mode).

``tasks`` holds every task on the host: the ``Tasks`` array of ``/v1/tasks`` (the whole
``{"Tasks": [...]}`` answer and the bare task of ``?dockerid=`` are accepted too, as a list
element). ``container``, when sent, is the ``/v1/metadata`` answer: it names the container
instance, and the cluster of tasks with old-format ARNs (which carry no cluster segment).
The agent omits internal (pause) containers here, and statuses are already backend statuses.
"""

from __future__ import annotations

from core.model.envelope import Envelope
from core.model.task import Container, Observation, Task
from core.normalize.common import (
    check_unique,
    checked,
    container_instance_arn,
    image_digest,
    is_internal,
    lifecycle_status,
    observe,
    parse_networks,
    parse_task_arn,
    resolve_cluster,
    sort_containers,
)
from core.normalize.reader import Obj, bad


def _container(doc: Obj) -> Container:
    name = doc.text("Name")
    if name is None:
        raise bad(doc.at("Name"), "is required")
    image = doc.text("Image")
    image_id = doc.text("ImageID")
    return checked(
        Container,
        name=name,
        docker_id=doc.text("DockerId"),
        internal=is_internal(name, None),
        image=image,
        image_id=image_id,
        image_digest=image_digest(image, image_id, None),  # EC2/External: never the manifest digest
        created_at=doc.time("CreatedAt"),
        started_at=doc.time("StartedAt"),
        restart_count=doc.integer("RestartCount"),
        networks=parse_networks(doc),
    )


def parse_task(doc: Obj, instance: Obj | None) -> Task:
    ref = parse_task_arn(doc.text("Arn"), doc.at("Arn"))
    cluster, cluster_path = (None, doc.at("Arn"))
    if ref.cluster_name is None and instance is not None:
        cluster, cluster_path = instance.text("Cluster"), instance.at("Cluster")
    cluster_arn, cluster_name = resolve_cluster(cluster, ref, cluster_path)
    instance_arn = None
    if instance is not None:
        instance_arn = container_instance_arn(
            instance.text("ContainerInstanceArn"), ref, instance.at("ContainerInstanceArn")
        )
    return checked(
        Task,
        task_arn=ref.arn,
        task_id=ref.task_id,
        account_id=ref.account_id,
        region=ref.region,
        cluster_arn=cluster_arn,
        cluster_name=cluster_name,
        family=doc.text("Family"),
        revision=doc.text_or_int("Version"),
        desired_status=doc.text("DesiredStatus"),  # blanked ("") in some transitions: None
        last_status=lifecycle_status(doc.text("KnownStatus")),
        container_instance_arn=instance_arn,
        containers=sort_containers([_container(c) for c in doc.objs("Containers")]),
    )


def _task_docs(tasks: list[object]) -> list[Obj]:
    docs: list[Obj] = []
    for i, item in enumerate(tasks):
        doc = Obj.of(item, f"tasks[{i}]")
        if "Tasks" in doc.data and "Arn" not in doc.data:  # a whole /v1/tasks answer
            docs.extend(doc.objs("Tasks"))
        else:
            docs.append(doc)
    return docs


def normalize(env: Envelope) -> list[Observation]:
    instance = Obj(env.container, "container") if env.container is not None else None
    tasks = [(parse_task(doc, instance), doc.at("Arn")) for doc in _task_docs(env.tasks or [])]
    return [observe(task, env) for task in check_unique(tasks)]
