"""TMDE v4/v3/v2 fixtures through their sources; expectations read from the fixture by hand."""

from __future__ import annotations

import pytest
from normalize_support import COLLECTED_AT_DT, envelope, load, utc

from core.errors import InvalidInput
from core.model.task import Container, Observation
from core.normalize import normalize_snapshot


def one(body: dict[str, object]) -> Observation:
    observations = normalize_snapshot(body)
    assert len(observations) == 1
    return observations[0]


def by_name(containers: list[Container], name: str) -> Container:
    return next(c for c in containers if c.name == name)


def test_v4_ec2_awsvpc_task() -> None:
    doc = load("v4-task-ec2-awsvpc.json")
    obs = one(envelope("tmde-v4", task=doc))
    task = obs.task
    assert obs.source == "tmde-v4"
    assert obs.observed_at == COLLECTED_AT_DT
    assert (obs.sequence, obs.reason, obs.reporter, obs.event_version) == (7, "start", "agent-1", None)
    assert task.task_arn == doc["TaskARN"]
    assert task.task_id == "158d1c8083dd49d6b527399fd6414f5c"
    assert (task.account_id, task.region) == ("111122223333", "us-west-2")
    # EC2 reports the short name "default"; it becomes an ARN in the task's region/account.
    assert doc["Cluster"] == "default"
    assert task.cluster_arn == "arn:aws:ecs:us-west-2:111122223333:cluster/default"
    assert task.cluster_name == "default"
    assert (task.family, task.revision, task.service_name) == ("curltest", "26", "MyService")
    assert (task.launch_type, task.availability_zone, task.vpc_id) == ("EC2", "us-west-2d", doc["VPCID"])
    assert (task.desired_status, task.last_status) == ("RUNNING", "RUNNING")
    assert task.pull_started_at == utc("2020-10-02T00:43:06.202617")
    assert task.cpu is None and task.memory is None  # no task-level Limits on this EC2 task
    assert task.tags == {}
    # Bookkeeping is the store's job.
    assert (task.first_seen_at, task.last_seen_at, task.last_source, task.reporters, task.stale) == (
        None, None, None, [], False,
    )  # fmt: skip

    assert [c.name for c in task.containers] == ["curl", "~internal~ecs~pause"]
    pause = by_name(task.containers, "~internal~ecs~pause")
    raw_pause = doc["Containers"][0]
    assert pause.internal and pause.type == "CNI_PAUSE"
    assert pause.docker_id == raw_pause["DockerId"]
    assert pause.image == "amazon/amazon-ecs-pause:0.1.0"
    assert pause.image_id is None and pause.image_digest is None  # ImageID is ""
    assert pause.last_status == "RUNNING"  # RESOURCES_PROVISIONED is the pause steady state

    curl = by_name(task.containers, "curl")
    raw = doc["Containers"][1]
    assert not curl.internal and curl.type == "NORMAL"
    assert curl.docker_id == raw["DockerId"]
    assert curl.container_arn == raw["ContainerARN"]
    assert curl.image == "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest"
    # EC2: ImageID is Docker's local image id, not the manifest digest.
    assert curl.image_id == raw["ImageID"] and curl.image_digest is None
    assert curl.labels == raw["Labels"]
    assert curl.labels["com.amazonaws.ecs.task-definition-version"] == "26"
    assert curl.created_at == utc("2020-10-02T00:43:06.326590")
    assert curl.started_at == utc("2020-10-02T00:43:06.767535")
    assert curl.finished_at is None and curl.exit_code is None and curl.health_status is None
    (net,) = curl.networks
    assert net.network_mode == "awsvpc"
    assert net.ipv4_addresses == ["10.0.2.61"] and net.ipv6_addresses == []
    assert net.mac_address == "0e:10:e2:01:bd:91"
    assert net.private_dns_name == "ip-10-0-2-61.us-west-2.compute.internal"
    assert net.eni is None  # TMDE does not expose the ENI id


def test_v4_fargate_task_with_container_level_clock_drift() -> None:
    doc = load("v4-task-fargate-docs.json")
    assert "ClockDrift" in doc["Containers"][0]
    task = one(envelope("tmde-v4", task=doc)).task
    assert task.cluster_arn == doc["Cluster"] and task.cluster_name == "default"
    assert task.task_id == "e9028f8d5d8e4f258373e7b93ce9a3c3"
    assert (task.launch_type, task.availability_zone) == ("FARGATE", "us-west-2a")
    # Limits.CPU 0.25 vCPU -> "256" CPU units, Memory 512 MiB -> "512".
    assert doc["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert (task.cpu, task.memory) == ("256", "512")
    (curl,) = task.containers
    assert curl.docker_id == "e9028f8d5d8e4f258373e7b93ce9a3c3-2495160603"
    # Fargate: ImageID is the manifest digest.
    assert curl.image_digest == "sha256:25f3695bedfb454a50f12d127839a68ad3caf91e451c1da073db34c542c4d2cb"
    (net,) = curl.networks
    assert net.ipv4_addresses == ["192.0.2.3"]
    assert net.ipv6_addresses == ["2001:dB8:10b:1a00:32bf:a372:d80f:e958"]
    assert net.mac_address == "02:b7:20:19:72:39"


def test_v4_ec2_bridge_three_containers_sorted() -> None:
    doc = load("v4-task-ec2-bridge.json")
    assert [c["Name"] for c in doc["Containers"]] == ["nginx100", "nginx300", "nginx200"]
    task = one(envelope("tmde-v4", task=doc)).task
    assert task.launch_type is None  # output from before agent 1.45
    assert task.cluster_arn == "arn:aws:ecs:us-west-2:803860917211:cluster/test200"
    assert (task.cpu, task.memory) == ("512", "512")  # 0.5 vCPU
    assert [c.name for c in task.containers] == ["nginx100", "nginx200", "nginx300"]
    ips = {c.name: (c.networks[0].network_mode, c.networks[0].ipv4_addresses) for c in task.containers}
    assert ips == {
        "nginx100": ("bridge", ["172.17.0.3"]),
        "nginx200": ("bridge", ["172.17.0.2"]),
        "nginx300": ("bridge", ["172.17.0.4"]),
    }
    assert all(c.image == "nginx:latest" and c.image_digest is None for c in task.containers)


def test_v4_task_with_tags() -> None:
    doc = load("v4-taskwithtags-ec2-awsvpc.json")
    task = one(envelope("tmde-v4", task=doc)).task
    assert task.tags == {"tag-use": "task-metadata-endpoint-test"}  # ContainerInstanceTags are not task tags
    assert task.service_name == "MyService"


def test_v4_task_with_tags_errors_still_normalizes() -> None:
    doc = load("v4-taskwithtags-ec2-errors.json")
    assert len(doc["Errors"]) == 2
    task = one(envelope("tmde-v4", task=doc)).task
    assert task.task_id == "158d1c8083dd49d6b527399fd6414f5c"
    assert task.tags == {}  # the tags ECS could not read are unknown, not an error
    assert (task.family, task.revision, task.service_name) == ("curltest", "26", "MyService")
    assert (task.launch_type, task.availability_zone, task.vpc_id) == (
        "EC2",
        "us-west-2d",
        "vpc-1234567890abcdef0",
    )
    assert task.pull_started_at == utc("2020-10-02T00:43:06.202617")  # 9 digits, truncated to 6
    assert [(c.name, c.internal) for c in task.containers] == [("curl", False), ("~internal~ecs~pause", True)]
    curl = task.containers[0]
    assert curl.image == "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest"
    assert curl.networks[0].ipv4_addresses == ["10.0.2.61"]
    assert curl.networks[0].mac_address == "0e:10:e2:01:bd:91"


def test_v4_datadog_health_volumes_task_level_clock_drift() -> None:
    doc = load("v4-taskwithtags-health-volumes-datadog-edited.json")
    assert "ClockDrift" in doc and "EphemeralStorageMetrics" in doc
    task = one(envelope("tmde-v4", task=doc)).task
    assert task.cluster_arn == doc["Cluster"] and task.cluster_name == "ecs-cluster"
    assert (task.cpu, task.memory) == ("1024", "2048")
    assert task.tags == {"aws:ecs:cluster": "ecs-cluster", "aws:ecs:launchtype": "EC2"}
    agent = by_name(task.containers, "datadog-agent")
    assert agent.health_status == "HEALTHY"
    assert "com.amazonaws.ecs.cluster" not in agent.labels
    router = by_name(task.containers, "log_router")
    assert router.labels == {}  # no Labels at all
    assert router.health_status is None
    assert router.networks[0].ipv4_addresses == ["172.31.15.128"]


def test_v4_managed_instances_tasks_array() -> None:
    docs = load("v4-tasks-managed-instances.json")
    observations = normalize_snapshot(envelope("tmde-v4", tasks=docs))
    assert [o.task.task_arn for o in observations] == [d["TaskARN"] for d in docs]
    daemon, web = (o.task for o in observations)
    assert daemon.launch_type == "MANAGED_INSTANCES"
    assert daemon.service_name is None  # Group "daemon:app-monitor" is not a service
    assert web.service_name == "web-frontend-service"
    assert (web.cpu, web.memory) == ("1024", "2048")
    assert web.containers[0].container_arn == docs[1]["Containers"][0]["ContainerARN"]
    assert web.containers[0].networks == []  # no Networks key


@pytest.mark.parametrize(
    ("fixture", "launch_type"),
    [("v4-container-ec2-awsvpc.json", "EC2"), ("v4-container-fargate-docs.json", "FARGATE")],
)
def test_v4_container_document_fills_a_missing_container(fixture: str, launch_type: str) -> None:
    container = load(fixture)
    labels = container["Labels"]
    task_doc = {
        "TaskARN": labels["com.amazonaws.ecs.task-arn"],
        "Cluster": labels["com.amazonaws.ecs.cluster"],
    }
    task_doc["LaunchType"] = launch_type
    task = one(envelope("tmde-v4", task=task_doc, container=container)).task
    (c,) = task.containers
    assert (c.name, c.docker_id, c.container_arn) == (
        "curl",
        container["DockerId"],
        container["ContainerARN"],
    )
    assert c.networks[0].ipv4_addresses == container["Networks"][0]["IPv4Addresses"]
    assert c.networks[0].mac_address == container["Networks"][0]["MACAddress"]
    expected_digest = container["ImageID"] if launch_type == "FARGATE" else None
    assert c.image_digest == expected_digest


def test_container_document_of_another_task_is_rejected() -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(
            envelope(
                "tmde-v4",
                task=load("v4-task-ec2-awsvpc.json"),
                container=load("v4-container-ec2-awsvpc.json"),
            )
        )
    assert err.value.field == "container.Labels"


def test_container_document_already_listed_is_not_duplicated() -> None:
    doc = load("v4-task-ec2-awsvpc.json")
    task = one(envelope("tmde-v4", task=doc, container=doc["Containers"][1])).task
    assert [c.name for c in task.containers] == ["curl", "~internal~ecs~pause"]


@pytest.mark.parametrize(
    ("source", "fixture"),
    [("tmde-v3", "v3-task-ec2-awsvpc.json"), ("tmde-v2", "v2-metadata-task-awsvpc.json")],
)
def test_v3_v2_task_old_arn(source: str, fixture: str) -> None:
    doc = load(fixture)
    obs = one(envelope(source, task=doc, container=load("v3-container-ec2-awsvpc.json")))
    task = obs.task
    assert obs.source == source
    # Old ARN format: no cluster segment; the short name "default" gives the ARN.
    assert task.task_arn == "arn:aws:ecs:us-east-2:012345678910:task/9781c248-0edd-4cdb-9a93-f63cb662a5d3"
    assert task.task_id == "9781c248-0edd-4cdb-9a93-f63cb662a5d3"
    assert task.cluster_arn == "arn:aws:ecs:us-east-2:012345678910:cluster/default"
    assert (task.family, task.revision, task.availability_zone) == ("nginx", "5", "us-east-2b")
    assert task.launch_type is None and task.vpc_id is None
    assert task.pull_started_at == utc("2018-02-01T20:55:09.372495")
    assert [(c.name, c.internal) for c in task.containers] == [
        ("nginx-curl", False),
        ("~internal~ecs~pause", True),
    ]
    app = task.containers[0]
    assert app.docker_id == "43481a6ce4842eec8fe72fc28500c6b52edcc0917f105b83379f88cac1ff3946"
    assert app.networks[0].ipv4_addresses == ["10.0.2.106"]
    assert app.image == "nrdlngr/nginx-curl" and app.image_digest is None


def test_v3_container_document_fills_a_missing_container() -> None:
    container = load("v3-container-ec2-awsvpc.json")
    task_doc = {"TaskARN": container["Labels"]["com.amazonaws.ecs.task-arn"], "Cluster": "default"}
    (c,) = one(envelope("tmde-v3", task=task_doc, container=container)).task.containers
    assert (c.name, c.internal, c.image) == ("nginx-curl", False, "nrdlngr/nginx-curl")
    assert c.docker_id == "43481a6ce4842eec8fe72fc28500c6b52edcc0917f105b83379f88cac1ff3946"
    assert c.image_id == "sha256:2e00ae64383cfc865ba0a2ba37f61b50a120d2d9378559dcd458dc0de47bc165"
    assert c.image_digest is None  # EC2: ImageID is the local image id, not the repository digest
    assert c.created_at == utc("2018-02-01T20:55:10.554941")
    assert c.started_at == utc("2018-02-01T20:55:11.064236")
    assert c.labels["com.amazonaws.ecs.task-definition-version"] == "5"
    assert c.networks[0].network_mode == "awsvpc" and c.networks[0].ipv4_addresses == ["10.0.2.106"]


def test_v2_task_with_tags_service_from_managed_tag() -> None:
    doc = load("v2-taskwithtags-ec2-awsvpc.json")
    task = one(envelope("tmde-v2", task=doc)).task
    assert task.task_id == "36a297a28f0f4ad2959801747cfe8703"
    assert task.cluster_arn == "arn:aws:ecs:us-west-1:601427279990:cluster/ecs-cluster"
    assert task.service_name == doc["TaskTags"]["aws:ecs:serviceName"] == "ec2-redis-awspvc"
    assert task.tags["Team"] == "dev-1"
    pause = by_name(task.containers, "~internal~ecs~pause")
    assert pause.internal and pause.image_id is None
    redis = by_name(task.containers, "redis")
    assert redis.image_id == doc["Containers"][1]["ImageID"]
    assert redis.networks[0].ipv4_addresses == ["10.0.2.176"]


def test_local_endpoints_task_override_with_placeholder_account_is_rejected() -> None:
    doc = load("local-endpoints-task-metadata-override.json")
    assert "ExampleAWSAccountNo1;" in doc["TaskARN"]
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("tmde-v4", task=doc))
    assert err.value.field == "task.TaskARN"


def test_local_endpoints_override_with_real_account_and_container_override() -> None:
    doc = load("local-endpoints-task-metadata-override.json")
    doc["TaskARN"] = doc["TaskARN"].replace("ExampleAWSAccountNo1;", "123456789012")
    doc["Cluster"] = doc["Cluster"].replace("ExampleAWSAccountNo1;", "123456789012")
    override = load("local-endpoints-v4-container-override.json")
    container = {"Name": "app", "DockerId": "abc", **override}
    task = one(envelope("tmde-v4", task=doc, container=container)).task
    assert (task.family, task.revision, task.cpu, task.memory) == ("query-metadata", "7", "256", "512")
    (net,) = task.containers[0].networks
    assert (
        net.ipv4_addresses == ["10.0.0.61"]
        and net.private_dns_name == override["Networks"][0]["PrivateDNSName"]
    )


@pytest.mark.parametrize(
    "stats_fixture",
    [
        "v4-task-stats-ec2.json",
        "v4-task-stats-managed-instances-cgroupv2-no-network.json",
        "v4-container-stats-ec2-bridge.json",
    ],
)
def test_stats_are_accepted_and_kept_out_of_the_task(stats_fixture: str) -> None:
    stats = load(stats_fixture)
    obs = one(envelope("tmde-v4", task=load("v4-task-ec2-bridge.json"), stats=stats))
    assert "stats" not in obs.task.model_dump()


def test_stats_with_2_64_minus_1_limit_and_empty_entries() -> None:
    stats = load("v4-task-stats-managed-instances-cgroupv2-no-network.json")
    assert 18446744073709551615 in [s.get("memory_stats", {}).get("limit") for s in stats.values()]
    stats["deadbeef"] = {}
    stats["cafe"] = None
    assert one(envelope("tmde-v2", task=load("v2-metadata-task-awsvpc.json"), stats=stats))
    assert one(envelope("tmde-v4", task=load("v4-task-ec2-bridge.json"), stats=None))
