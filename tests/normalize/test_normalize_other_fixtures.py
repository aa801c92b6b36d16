"""Metadata file, introspection and EventBridge fixtures; expectations read from the fixture by hand."""

from __future__ import annotations

import pytest
from normalize_support import envelope, load, utc

from core.errors import InvalidInput
from core.normalize import normalize_event, normalize_snapshot


def test_metadata_file_ready_bridge() -> None:
    doc = load("metadata-file-ready-bridge.json")
    (obs,) = normalize_snapshot(envelope("metadata-file", task=doc))
    task = obs.task
    assert obs.source == "metadata-file"
    assert task.task_id == "2b88376d-aba3-4950-9ddf-bcb0f388a40c"
    assert task.cluster_arn == "arn:aws:ecs:us-west-2:012345678910:cluster/default"
    assert task.container_instance_arn == doc["ContainerInstanceARN"]
    assert (task.family, task.revision) == ("console-sample-app-static", "1")
    assert task.availability_zone == "us-east-1b"  # as the (inconsistent) docs example says
    assert task.last_status is None  # the file has no status
    (c,) = task.containers
    assert (c.name, c.docker_id) == ("simple-app", doc["ContainerID"])
    assert (c.image, c.image_id, c.image_digest) == ("httpd:2.4", doc["ImageID"], None)
    assert [(n.network_mode, n.ipv4_addresses) for n in c.networks] == [("bridge", ["192.0.2.0"])]


def test_metadata_file_not_ready() -> None:
    doc = load("metadata-file-not-ready.json")
    assert "MetadataFileStatus" not in doc
    (obs,) = normalize_snapshot(envelope("metadata-file", task=doc))
    (c,) = obs.task.containers
    assert (c.name, c.docker_id, c.image, c.networks) == ("metadata", None, None, [])
    assert obs.task.task_id == "d90675f8-1a98-444b-805b-3d9cabb6fcd4"


def test_metadata_file_old_arns_default_network_mode() -> None:
    doc = load("metadata-file-ready-old-arn-default-networkmode.json")
    (obs,) = normalize_snapshot(envelope("metadata-file", task=doc))
    task = obs.task
    assert task.task_id == "776b2c2e-6bfb-4328-bd04-204536cfb7f2"
    assert task.cluster_arn == "arn:aws:ecs:us-west-2:123456789012:cluster/athenz"
    assert task.container_instance_arn == doc["ContainerInstanceARN"]  # old format, no cluster segment
    (c,) = task.containers
    assert c.networks[0].network_mode == "default" and c.networks[0].ipv4_addresses == ["172.17.0.3"]
    assert c.image == "registry.hub.docker.com/image-name:latest"


def test_introspection_tasks() -> None:
    doc = load("introspection-v1-tasks.json")
    observations = normalize_snapshot(envelope("introspection", tasks=doc["Tasks"]))
    (obs,) = observations
    task = obs.task
    assert obs.source == "introspection" and obs.reporter == "agent-1"
    assert task.task_arn == doc["Tasks"][0]["Arn"]
    assert task.task_id == "example5-58ff-46c9-ae05-543f8example"
    assert (task.account_id, task.region) == ("012345678910", "us-west-2")
    assert task.cluster_arn == "arn:aws:ecs:us-west-2:012345678910:cluster/default"
    assert (task.family, task.revision, task.desired_status, task.last_status) == (
        "hello_world", "8", "RUNNING", "RUNNING",
    )  # fmt: skip
    assert [(c.name, c.docker_id) for c in task.containers] == [
        ("mysql", "9581a69a761a557fbfce1d0f6745e4af5b9dbfb86b6b2c5c4df156f1a5932ff1"),
        ("wordpress", "bf25c5c5b2d4dba68846c7236e75b6915e1e778d31611e3c6a06831e39814a15"),
    ]


def test_introspection_whole_answer_and_bare_task() -> None:
    whole = load("introspection-v1-tasks.json")
    bare = load("introspection-v1-tasks-by-dockerid.json")
    observations = normalize_snapshot(envelope("introspection", tasks=[whole, bare]))
    assert [o.task.task_arn for o in observations] == [whole["Tasks"][0]["Arn"], bare["Arn"]]
    assert observations[1].task.family == "nginx-efs"
    assert observations[1].task.containers[0].name == "nginx"


def test_introspection_metadata_fills_cluster_of_old_arns_and_instance() -> None:
    meta = load("introspection-v1-metadata-old-arn.json")
    task = load("introspection-v1-tasks-by-dockerid.json")
    task["Arn"] = "arn:aws:ecs:us-west-1:601427279990:task/e01d58a8-151b-40e8-bc01-22647b9ecfec"
    (obs,) = normalize_snapshot(envelope("introspection", tasks=[task], container=meta))
    assert obs.task.cluster_arn == "arn:aws:ecs:us-west-1:601427279990:cluster/ecs_cluster"
    assert obs.task.container_instance_arn == meta["ContainerInstanceArn"]


def test_introspection_metadata_with_placeholder_arn_is_rejected() -> None:
    meta = load("introspection-v1-metadata.json")
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(
            envelope("introspection", tasks=load("introspection-v1-tasks.json")["Tasks"], container=meta)
        )
    assert err.value.field == "container.ContainerInstanceArn"


def test_introspection_instance_of_another_account_is_rejected() -> None:
    meta = load("introspection-v1-metadata-old-arn.json")  # us-west-1 / 601427279990
    tasks = load("introspection-v1-tasks.json")["Tasks"]  # us-west-2 / 012345678910
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("introspection", tasks=tasks, container=meta))
    assert err.value.field == "container.ContainerInstanceArn"


def test_introspection_bad_task_names_its_index() -> None:
    tasks = load("introspection-v1-tasks.json")["Tasks"] * 2
    tasks[1] = {**tasks[1], "Containers": [{"Name": "x", "Networks": "nope"}]}
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("introspection", tasks=tasks))
    assert err.value.field == "tasks[1].Containers[0].Networks"


def test_eventbridge_fargate_running() -> None:
    event = load("eventbridge-task-state-change-fargate-running.json")
    obs = normalize_event(event)
    task = obs.task
    assert (obs.source, obs.reporter, obs.event_version, obs.sequence) == ("event", "eventbridge", 4, 0)
    assert obs.observed_at == utc("2020-01-23T17:57:58.103000")  # detail.updatedAt
    assert task.task_arn == event["detail"]["taskArn"]
    assert task.task_id == "c13b4cb40f1f4fe4a2971f76ae5a47ad"
    assert task.cluster_arn == event["detail"]["clusterArn"] and task.cluster_name == "FargateCluster"
    assert (task.family, task.revision) == ("sample-fargate", "1")
    assert task.service_name is None  # group is family:sample-fargate
    assert (task.launch_type, task.platform_version, task.availability_zone) == (
        "FARGATE",
        "1.3.0",
        "us-west-2c",
    )
    assert (task.cpu, task.memory) == ("256", "512")
    assert (task.desired_status, task.last_status) == ("RUNNING", "RUNNING")
    assert task.pull_started_at == utc("2020-01-23T17:57:52.103000")
    assert task.started_at == utc("2020-01-23T17:57:58.103000")
    assert task.stopped_at is None and task.stop_code is None
    (c,) = task.containers
    raw = event["detail"]["containers"][0]
    assert (c.name, c.docker_id, c.container_arn) == ("FargateApp", raw["runtimeId"], raw["containerArn"])
    assert c.image_digest == "sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6"
    (net,) = c.networks
    assert (net.network_mode, net.ipv4_addresses, net.eni, net.mac_address) == (
        "awsvpc", ["10.0.0.139"], "eni-abcd1234", "0a:98:eb:a7:29:ba",
    )  # fmt: skip


def test_eventbridge_stopped_service_task() -> None:
    event = load("eventbridge-task-state-change-fargate-running.json")
    detail = event["detail"]
    del detail["updatedAt"]
    detail.update(
        group="service:web",
        lastStatus="DEPROVISIONING",
        desiredStatus="STOPPED",
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
        stoppingAt="2020-01-23T18:00:00.5+01:00",
        version=9,
        tags=[{"key": "team", "value": "a"}],
    )
    detail["containers"][0].update(exitCode=137, lastStatus="STOPPED")
    obs = normalize_event(event)
    assert obs.observed_at == utc("2020-01-23T17:57:58")  # falls back to the event time
    assert obs.event_version == 9
    task = obs.task
    assert (task.service_name, task.last_status, task.stop_code) == (
        "web",
        "DEPROVISIONING",
        "EssentialContainerExited",
    )
    assert task.stopping_at == utc("2020-01-23T17:00:00.500000")
    assert task.tags == {"team": "a"}
    assert task.containers[0].exit_code == 137


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update({"detail-type": "ECS Container Instance State Change"}), "detail-type"),
        (lambda e: e.update(source="aws.ec2"), "source"),
        (lambda e: e.update(detail=[]), "detail"),
        (lambda e: e["detail"].update(taskArn="arn:aws:ecs:us-west-2:1:task/x"), "detail.taskArn"),
        (lambda e: e["detail"]["containers"][0].update(exitCode="1"), "detail.containers[0].exitCode"),
        (lambda e: e["detail"].update(taskDefinitionArn="sample:1"), "detail.taskDefinitionArn"),
    ],
)
def test_eventbridge_errors_name_the_field(mutate: object, field: str) -> None:
    event = load("eventbridge-task-state-change-fargate-running.json")
    mutate(event)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as err:
        normalize_event(event)
    assert err.value.field == field


def test_credentials_document_is_not_a_task() -> None:
    creds = load("task-role-credentials-response-placeholders.json")
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("tmde-v4", task=creds))
    assert err.value.field == "task.TaskARN"
    assert "SECRET_ACCESS_KEY" not in err.value.message


def test_introspection_duplicate_task_is_rejected() -> None:
    bare = load("introspection-v1-tasks-by-dockerid.json")
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("introspection", tasks=[bare, bare]))
    assert err.value.field == "tasks[1].Arn"
