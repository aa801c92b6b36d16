"""Envelope validation and the shared helpers (ARNs, timestamps, limits, digests, internal containers)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from normalize_support import FIXTURES, envelope, load

from core.errors import InvalidInput
from core.model.envelope import parse_rfc3339
from core.normalize import normalize_snapshot
from core.normalize.common import (
    cpu_units_from_vcpu,
    image_digest,
    is_internal,
    lifecycle_status,
    memory_mib,
    parse_task_arn,
    resolve_cluster,
)


def task_doc(**extra: Any) -> dict[str, Any]:
    return {
        "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
        **extra,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schemaVersion": 2}, "schemaVersion"),
        ({"schemaVersion": True}, "schemaVersion"),
        ({"source": "tmde-v5"}, "source"),
        ({"collectedAt": "2026-11-28T09:14:03"}, "collectedAt"),  # no time zone
        ({"collectedAt": 1764321243}, "collectedAt"),  # epoch numbers are not RFC 3339
        ({"collectedAt": "2026-11-28T09:14:03.1234567890Z"}, "collectedAt"),  # 10 digits
        ({"collectedAt": "0001-01-01T00:00:00Z"}, "collectedAt"),
        ({"sequence": -1}, "sequence"),
        ({"sequence": "7"}, "sequence"),
        ({"sequence": 2**64}, "sequence"),
        ({"reason": "restart"}, "reason"),
        ({"agent": {"version": "1", "mode": "once"}}, "agent.instanceId"),
        ({"task": None}, "task"),
        ({"task": []}, "task"),
        ({"stats": []}, "stats"),
    ],
)
def test_envelope_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    body = envelope("tmde-v4", task=task_doc())
    body.update(change)
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(body)
    assert err.value.field == field


def test_introspection_needs_tasks() -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("introspection", task=task_doc()))
    assert err.value.field == "tasks"


@pytest.mark.parametrize("body", [None, [], "x", 3])
def test_body_must_be_an_object(body: object) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(body)
    assert err.value.field == "body"


def test_unknown_top_level_fields_and_missing_optional_docs() -> None:
    body = envelope("tmde-v4", task=task_doc(), future={"x": 1}, container=None, stats={})
    (obs,) = normalize_snapshot(body)
    assert obs.task.containers == [] and obs.task.family is None and obs.task.last_status is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-02T00:43:06Z", datetime(2020, 10, 2, 0, 43, 6, tzinfo=UTC)),
        ("2020-10-02T00:43:06.3Z", datetime(2020, 10, 2, 0, 43, 6, 300000, tzinfo=UTC)),
        ("2020-10-02T00:43:06.31288465Z", datetime(2020, 10, 2, 0, 43, 6, 312884, tzinfo=UTC)),
        ("2020-10-02T00:43:06.202617438Z", datetime(2020, 10, 2, 0, 43, 6, 202617, tzinfo=UTC)),
        ("2020-10-02t02:43:06.1+02:00", datetime(2020, 10, 2, 0, 43, 6, 100000, tzinfo=UTC)),
        ("2020-10-01T20:43:06-04:00", datetime(2020, 10, 2, 0, 43, 6, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_timestamps(text: str, expected: datetime | None) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2020-13-02T00:43:06Z", "2020-10-02T00:43:06", "2020-10-02", "\uff12\uff10\uff12\uff10-10-02T00:43:06Z"],
)
def test_bad_timestamps_name_the_field(text: str) -> None:
    doc = task_doc(PullStartedAt=text)
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("tmde-v4", task=doc))
    assert err.value.field == "task.PullStartedAt"


@pytest.mark.parametrize(
    ("arn", "task_id", "cluster", "partition"),
    [
        ("arn:aws:ecs:us-east-2:012345678910:task/9781c248-0edd-4cdb-9a93-f63cb662a5d3",
         "9781c248-0edd-4cdb-9a93-f63cb662a5d3", None, "aws"),
        ("arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c",
         "158d1c8083dd49d6b527399fd6414f5c", "default", "aws"),
        ("arn:aws-cn:ecs:cn-north-1:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c",
         "158d1c8083dd49d6b527399fd6414f5c", "prod", "aws-cn"),
        ("arn:aws-us-gov:ecs:us-gov-west-1:111122223333:task/158d1c8083dd49d6b527399fd6414f5c",
         "158d1c8083dd49d6b527399fd6414f5c", None, "aws-us-gov"),
    ],
)  # fmt: skip
def test_task_arns(arn: str, task_id: str, cluster: str | None, partition: str) -> None:
    ref = parse_task_arn(arn, "x")
    assert (ref.task_id, ref.cluster_name, ref.partition) == (task_id, cluster, partition)
    name = cluster or "c1"
    cluster_arn, _ = resolve_cluster(name, ref, "x")
    assert cluster_arn == f"arn:{partition}:ecs:{ref.region}:{ref.account_id}:cluster/{name}"
    assert resolve_cluster(cluster_arn, ref, "x") == (cluster_arn, name)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:ecs:us-west-2:111122223333:task/",
        "arn:aws:ecs:us-west-2:11112222333:task/abc",
        "arn:aws:ecs:us-west-2:111122223333:cluster/abc",
        "arn:aws:ecs:us-west-2:111122223333:task/a/b/c",
        "arn:aws:ecs:us-west-2:111122223333:task/abc\n",
        "arn:aws:s3:us-west-2:111122223333:task/abc",
    ],
)
def test_bad_task_arns(arn: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_task_arn(arn, "task.TaskARN")
    assert err.value.field == "task.TaskARN"


def test_cluster_arn_mismatch_formats() -> None:
    ref = parse_task_arn("arn:aws:ecs:us-west-2:111122223333:task/x/abc", "t")
    assert resolve_cluster(None, ref, "c") == ("arn:aws:ecs:us-west-2:111122223333:cluster/x", "x")
    for bad_value in (
        "arn:aws:ecs:us-west-2:111122223333:task/x",
        "arn:aws:ecs:us-west-2:999999999999:cluster/x",  # another account
        "arn:aws:ecs:us-east-1:111122223333:cluster/x",  # another region
        "y",  # the task ARN says cluster x
        "has space",
        "a/b",
    ):
        with pytest.raises(InvalidInput):
            resolve_cluster(bad_value, ref, "task.Cluster")


def test_limits() -> None:
    assert [cpu_units_from_vcpu(v) for v in (0.25, 0.5, 1, 4, 100 / 1024, 0, None)] == [
        "256", "512", "1024", "4096", "100", None, None,
    ]  # fmt: skip
    assert memory_mib(2**64 - 1) == "18446744073709551615"
    assert [memory_mib(v) for v in (512, 512.0, 0, None, 1.5)] == ["512", "512", None, None, None]
    assert cpu_units_from_vcpu(1e308) is None  # overflows to inf: unknown, not a crash


def test_huge_task_memory_limit_does_not_crash() -> None:
    (obs,) = normalize_snapshot(envelope("tmde-v4", task=task_doc(Limits={"CPU": 0.25, "Memory": 2**64 - 1})))
    assert obs.task.memory == str(2**64 - 1)


def test_image_digest_rule() -> None:
    digest = "sha256:" + "a" * 64
    assert image_digest("repo:tag", digest, "FARGATE") == digest
    assert image_digest("repo:tag", digest, "EC2") is None
    assert image_digest("repo:tag", digest, None) is None
    assert image_digest(f"repo@{digest}", "sha256:" + "b" * 64, "EC2") == digest
    assert image_digest(f"repo:tag@{digest}", None, None) == digest


def test_internal_and_statuses() -> None:
    assert is_internal("~internal~ecs~pause", None)
    assert is_internal("~internal~ecs-emptyvolume-source", "EMPTY_HOST_VOLUME")
    assert is_internal("ns", "NAMESPACE_PAUSE")
    assert is_internal("ecs-service-connect-abc", "NORMAL")
    assert not is_internal("app", "MANAGED_DAEMON")
    assert [lifecycle_status(s) for s in ("NONE", "PULLED", "CREATED", "RUNNING", "STOPPED", None)] == [
        "PENDING", "PENDING", "PENDING", "RUNNING", "STOPPED", None,
    ]  # fmt: skip


def test_early_fargate_task_known_status_none_and_empty_docker_id() -> None:
    doc = load("v4-task-fargate-docs.json")
    doc["KnownStatus"] = "NONE"
    container = doc["Containers"][0]
    container.update(DockerId="", KnownStatus="PULLED")
    for key in ("CreatedAt", "StartedAt", "Networks"):
        del container[key]
    doc["ClockDrift"] = container.pop("ClockDrift")
    (obs,) = normalize_snapshot(envelope("tmde-v4", task=doc))
    assert obs.task.last_status == "PENDING"
    (c,) = obs.task.containers
    assert (c.docker_id, c.last_status, c.created_at, c.networks) == (None, "PENDING", None, [])


def test_host_mode_empty_ip_and_unknown_type() -> None:
    container = {
        "Name": "app",
        "Type": "FUTURE_TYPE",
        "Networks": [{"NetworkMode": "host", "IPv4Addresses": [""]}],
    }
    (obs,) = normalize_snapshot(envelope("tmde-v4", task=task_doc(Containers=[container])))
    (c,) = obs.task.containers
    assert c.type == "OTHER" and c.networks[0].ipv4_addresses == []


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_snapshot(envelope("tmde-v4", task=task_doc(Family="\ud800")))
    assert err.value.field == "task.Family"


def test_every_fixture_is_exercised() -> None:
    """Each recorded payload is named by at least one normalize test module."""
    here = Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_normalize_*.py"))
    missing = [f.name for f in FIXTURES.glob("*.json") if f.name not in text]
    assert missing == []
