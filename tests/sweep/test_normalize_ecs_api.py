"""DescribeTasks answers (as boto3 returns them) to ``ecs-api`` observations, per launch type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import InvalidInput
from core.normalize import normalize_event
from core.normalize.ecs_api import normalize_described
from tests.ecs_fixtures import FIXTURES as ECS_FIXTURES
from tests.sweep.stub import as_boto3, fixture

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def described(name: str) -> list[Any]:
    tasks: list[Any] = as_boto3("DescribeTasks", fixture(name))["tasks"]
    return tasks


def test_boto3_hands_the_sweep_datetimes_not_text() -> None:
    (task,) = described("describe-tasks-ec2-bridge.json")
    assert isinstance(task["startedAt"], datetime) and task["startedAt"].tzinfo is not None


def test_fargate_awsvpc_from_the_documented_answer() -> None:
    first, second = (normalize_described(t, observed_at=AT) for t in described("describe-tasks-fargate.json"))
    assert first.source == "ecs-api" and first.reporter == "sweep" and first.observed_at == AT
    assert first.event_version == 3 and first.reason is None
    task = first.task
    assert (
        task.task_arn == "arn:aws:ecs:us-east-1:123456789012:task/MyCluster/74de0355a10a4f979ac495c14EXAMPLE"
    )
    assert (task.account_id, task.region, task.cluster_name) == ("123456789012", "us-east-1", "MyCluster")
    assert task.cluster_arn == "arn:aws:ecs:us-east-1:123456789012:cluster/MyCluster"
    assert (task.family, task.revision, task.service_name) == ("webserver", "2", "tdsevicetag")
    assert (task.launch_type, task.platform_version, task.availability_zone) == (
        "FARGATE",
        "1.4.0",
        "us-east-1b",
    )
    assert (task.cpu, task.memory, task.last_status, task.desired_status) == (
        "256",
        "512",
        "RUNNING",
        "RUNNING",
    )
    # -05:00 in the document: stored in UTC, to the microsecond.
    assert task.started_at == datetime(2021, 12, 20, 17, 13, 48, 86000, tzinfo=UTC)
    assert task.pull_started_at == datetime(2021, 12, 20, 17, 13, 42, 665000, tzinfo=UTC)
    (web,) = task.containers
    assert (web.name, web.image, web.docker_id) == (
        "web",
        "nginx",
        "74de0355a10a4f979ac495c14EXAMPLE-265927825",
    )
    (network,) = web.networks
    assert network.network_mode == "awsvpc" and network.ipv4_addresses == ["10.0.1.184"]
    assert network.eni == "eni-0fa40520aeEXAMPLE" and network.mac_address == "0e:89:76:28:07:b3"
    assert network.private_dns_name == "ip-10-0-1-184.ec2.internal"
    assert task.tags == {} and task.container_instance_arn is None
    assert second.task.containers[0].networks[0].ipv4_addresses == ["10.0.1.41"]
    # Unknown values stay unknown: the answer names no digest, no exit code, no stop.
    assert web.image_digest is None and web.exit_code is None and task.stopped_at is None


def test_ec2_bridge_from_the_documented_answer() -> None:
    (observation,) = (
        normalize_described(t, observed_at=AT) for t in described("describe-tasks-ec2-bridge.json")
    )
    task = observation.task
    assert observation.event_version == 2
    assert task.task_id == "4d590253bb114126b7afa7b58eea9221"  # the task's own ARN, not the container's copy
    assert (task.launch_type, task.service_name, task.family) == (
        "EC2",
        "testupdate",
        "console-sample-app-static2",
    )
    assert task.container_instance_arn == (
        "arn:aws:ecs:us-east-1:123456789012:container-instance/test/025c7e2c5e054a6790a29fc1fEXAMPLE"
    )
    (app,) = task.containers
    assert app.image == "httpd:2.4" and app.networks == []  # bridge: no ENI, no address of its own
    assert task.started_at == datetime(2021, 8, 11, 16, 21, 34, 945000, tzinfo=UTC)


def test_ec2_awsvpc_from_the_documented_answer() -> None:
    (observation,) = (
        normalize_described(t, observed_at=AT) for t in described("describe-tasks-ec2-awsvpc.json")
    )
    task = observation.task
    assert (task.launch_type, task.last_status, task.region) == ("EC2", "PROVISIONING", "us-west-2")
    assert task.container_instance_arn is not None and task.availability_zone == "us-west-2c"
    assert task.service_name is None and task.family == "mytaskdef"
    # The ENI is only PRECREATED: no address yet, and none invented.
    assert [c.networks for c in task.containers] == [[]]
    assert task.started_at is None


def test_epoch_timestamps_and_an_unmatched_attachment() -> None:
    (observation,) = (
        normalize_described(t, observed_at=AT) for t in described("describe-tasks-fargate-epoch.json")
    )
    task = observation.task
    assert task.started_at == datetime.fromtimestamp(1557134035.379, tz=UTC)
    (network,) = task.containers[0].networks
    assert network.ipv4_addresses == ["10.0.0.4"]
    assert network.eni is None  # the documented attachmentId names no attachment of the task


def test_tags_become_a_map() -> None:
    (task,) = described("describe-tasks-ec2-bridge.json")
    tagged = {**task, "tags": [{"key": "team", "value": "storefront"}, {"key": "empty", "value": ""}]}
    assert normalize_described(tagged, observed_at=AT).task.tags == {"team": "storefront", "empty": ""}


def test_naive_datetimes_are_read_as_utc() -> None:
    (task,) = described("describe-tasks-ec2-bridge.json")
    naive = {**task, "startedAt": datetime(2021, 8, 11, 16, 21, 34)}
    assert normalize_described(naive, observed_at=AT).task.started_at == datetime(
        2021, 8, 11, 16, 21, 34, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"taskArn": None}, "tasks[0].taskArn"),
        ({"taskArn": "arn:aws:ecs:<region>:<aws_account_id>:task/x"}, "tasks[0].taskArn"),
        ({"version": -1}, "tasks[0].version"),
        ({"version": "3"}, "tasks[0].version"),
        ({"containers": "web"}, "tasks[0].containers"),
        ({"containers": [{"image": "nginx"}]}, "tasks[0].containers[0].name"),
        ({"clusterArn": "arn:aws:ecs:us-east-1:999999999999:cluster/MyCluster"}, "tasks[0].clusterArn"),
        ({"tags": [{"key": 7, "value": "x"}]}, "tasks[0].tags[0].key"),
    ],
)
def test_a_malformed_entry_names_what_is_wrong(change: dict[str, Any], field: str) -> None:
    (task,) = described("describe-tasks-ec2-bridge.json")
    with pytest.raises(InvalidInput) as raised:
        normalize_described({**task, **change}, observed_at=AT)
    assert raised.value.field == field


def test_not_an_object() -> None:
    with pytest.raises(InvalidInput, match="must be an object"):
        normalize_described(["task"], observed_at=AT)


def test_the_documented_api_reference_example_is_refused_for_its_placeholders() -> None:
    document = fixture("describe-tasks-api-reference-placeholders.json")
    (task,) = as_boto3("DescribeTasks", document)["tasks"]
    with pytest.raises(InvalidInput, match="taskArn is not an ECS task ARN"):
        normalize_described(task, observed_at=AT)


def test_the_same_task_reads_alike_from_an_event_and_from_describe_tasks() -> None:
    """The events normalizer and this one share the parser: one Task, two sources."""
    import json

    event = json.loads((ECS_FIXTURES / "eventbridge-task-state-change-fargate-running.json").read_text())
    from_event = normalize_event(event)
    detail = as_boto3("DescribeTasks", {"tasks": [event["detail"]], "failures": []})["tasks"][0]
    from_api = normalize_described(detail, observed_at=AT)
    assert from_api.task == from_event.task
    assert from_api.event_version == from_event.event_version
    assert from_event.source == "event" and from_api.source == "ecs-api"
