"""Search the way people ask, through local mode's real gateway: an image with or without registry
and tag, a digest by the prefix tables show, and a clear 400 for a digest that cannot be one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from taskbeacon.local.system import LocalSystem
from tests.http.conftest import fixture, task_credentials
from tests.http.localapi import post_snapshot, send

DIGEST = "sha256:" + uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex, unique to this module
TAG = "9.99-searchforms"  # a tag no other test uses (fixed: test ids must match across workers)


@pytest.fixture(scope="module")
def tasks(local: LocalSystem, operator: dict) -> dict[str, str]:
    """Two tasks: one runs Docker Hub's nginx by short name, one public ECR's nginx; both at TAG."""
    images = {"hub": f"nginx:{TAG}", "ecr": f"public.ecr.aws/nginx/nginx:{TAG}"}
    ids: dict[str, str] = {}
    collected = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, image in images.items():
        doc = fixture("v4-task-fargate-docs.json")
        task_id = uuid.uuid4().hex
        doc["TaskARN"] = f"arn:aws:ecs:us-east-1:111122223333:task/forms/{task_id}"
        doc["Cluster"] = "forms"
        for container in doc["Containers"]:
            container["Image"] = image
            container["ImageID"] = DIGEST if name == "ecr" else container.get("ImageID")
        creds = task_credentials(local, operator, doc["TaskARN"])
        assert post_snapshot(local, creds, doc, collected_at=collected).status == 202
        ids[name] = task_id
    return ids


def _found(local: LocalSystem, operator: dict, query: str) -> set[str]:
    reply = send(local.url, "GET", f"/search?{query}", credentials=operator)
    assert reply.status == 200, reply.body
    return {item["taskId"] for item in reply.body["items"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"image=nginx:{TAG}", {"hub", "ecr"}),  # the short name: any registry
        (f"image=docker.io/library/nginx:{TAG}", {"hub"}),  # Docker's long form of nginx:TAG
        ("image=public.ecr.aws/nginx/nginx", {"ecr"}),  # a repository alone: every tag
        (f"image=public.ecr.aws/nginx/nginx:{TAG}", {"ecr"}),
    ],
)
def test_an_image_is_found_the_way_people_write_it(
    local: LocalSystem, operator: dict, tasks: dict[str, str], query: str, expected: set[str]
) -> None:
    assert _found(local, operator, query) & set(tasks.values()) == {tasks[name] for name in expected}


@pytest.mark.parametrize("length", [12, 20, 64])
def test_a_digest_is_found_by_a_prefix_of_12_or_more_hex(
    local: LocalSystem, operator: dict, tasks: dict[str, str], length: int
) -> None:
    prefix = DIGEST[: len("sha256:") + length]
    assert _found(local, operator, f"imageDigest={prefix}") == {tasks["ecr"]}
    assert _found(local, operator, f"imageDigest={prefix[len('sha256:') :]}") == {tasks["ecr"]}  # hex alone


@pytest.mark.parametrize("value", ["sha256:abc", "sha256:" + "g" * 12, "md5:" + "a" * 32, "x"])
def test_a_value_that_cannot_be_a_digest_prefix_is_a_400_naming_the_field(
    local: LocalSystem, operator: dict, value: str
) -> None:
    reply = send(local.url, "GET", f"/search?imageDigest={value}", credentials=operator)
    assert reply.status == 400 and reply.body["error"]["field"] == "imageDigest"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/tasks?status=FOO", "status"),
        ("/tasks?launchType=SPACESHIP", "launchType"),
        ("/search?ip=10.0.0.1&status=x", "status"),
    ],
)
def test_an_unknown_enum_value_is_a_400_naming_the_field_and_the_values(
    local: LocalSystem, operator: dict, query: str, field: str
) -> None:
    reply = send(local.url, "GET", query, credentials=operator)
    assert reply.status == 400, reply.body
    assert reply.body["error"]["field"] == field
    assert "must be one of" in reply.body["error"]["message"]
    lowercase = send(local.url, "GET", "/tasks?status=running&launchType=fargate", credentials=operator)
    assert lowercase.status == 200  # ECS's enums, whatever the case
