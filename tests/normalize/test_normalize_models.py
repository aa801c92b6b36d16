"""The normalizers build their models without validating again (``common.checked``): those models
must equal what validation gives for the same values, on every recorded fixture."""

from __future__ import annotations

from typing import Any

import pytest
from normalize_support import envelope, load

from core.model.task import Container, Network, Observation, Task
from core.normalize import normalize_event, normalize_snapshot
from core.normalize.common import checked


def _bodies() -> list[tuple[str, Any]]:
    fargate = load("v4-task-fargate-docs.json")
    whole = load("introspection-v1-tasks.json")
    return [
        ("v4-ec2", envelope("tmde-v4", task=load("v4-task-ec2-awsvpc.json"))),
        ("v4-fargate", envelope("tmde-v4", task=fargate, container=fargate["Containers"][0])),
        ("v4-tags", envelope("tmde-v4", task=load("v4-taskwithtags-ec2-awsvpc.json"))),
        ("v4-errors", envelope("tmde-v4", task=load("v4-taskwithtags-ec2-errors.json"))),
        ("v4-bridge", envelope("tmde-v4", task=load("v4-task-ec2-bridge.json"))),
        ("v4-health", envelope("tmde-v4", task=load("v4-taskwithtags-health-volumes-datadog-edited.json"))),
        ("v4-tasks", envelope("tmde-v4", tasks=load("v4-tasks-managed-instances.json"))),
        (
            "v3",
            envelope(
                "tmde-v3",
                task=load("v3-task-ec2-awsvpc.json"),
                container=load("v3-container-ec2-awsvpc.json"),
            ),
        ),
        ("v2", envelope("tmde-v2", task=load("v2-metadata-task-awsvpc.json"))),
        ("v2-tags", envelope("tmde-v2", task=load("v2-taskwithtags-ec2-awsvpc.json"))),
        ("file", envelope("metadata-file", task=load("metadata-file-ready-bridge.json"))),
        (
            "file-old",
            envelope("metadata-file", task=load("metadata-file-ready-old-arn-default-networkmode.json")),
        ),
        (
            "introspection",
            envelope("introspection", tasks=[whole, load("introspection-v1-tasks-by-dockerid.json")]),
        ),
        ("event", load("eventbridge-task-state-change-fargate-running.json")),
    ]


def _observations(body: Any) -> list[Observation]:
    if body.get("detail-type"):
        return [normalize_event(body)]
    return normalize_snapshot(body)


@pytest.mark.parametrize("body", [body for _, body in _bodies()], ids=[name for name, _ in _bodies()])
def test_models_equal_their_validated_copies(body: Any) -> None:
    for observation in _observations(body):
        again = Observation.model_validate(observation.model_dump())
        assert again == observation
        assert again.model_dump_json() == observation.model_dump_json()
        assert again.task.model_dump(by_alias=True, mode="json") == observation.task.model_dump(
            by_alias=True, mode="json"
        )
        assert type(observation.task) is Task
        for container in observation.task.containers:
            assert type(container) is Container
            assert Container.model_validate(container.model_dump()) == container
            assert all(type(network) is Network for network in container.networks)


def test_checked_matches_the_constructor() -> None:
    values: dict[str, Any] = {"name": "app", "docker_id": "abc", "labels": {"k": "v"}}
    built, validated = checked(Container, **values), Container(**values)
    assert built == validated and repr(built) == repr(validated)
    assert built.model_fields_set == validated.model_fields_set
    assert built.networks == [] and built.networks is not checked(Container, name="other").networks


def test_fast_utc_timestamps_read_exactly_as_rfc3339_does() -> None:
    """``Obj.time`` builds the common ``...Z`` shape with ``fromisoformat``: same value or same error."""
    import random

    from core.errors import InvalidInput
    from core.model.envelope import parse_rfc3339
    from core.normalize.reader import Obj

    rnd = random.Random(9)
    for _ in range(5000):
        fraction = rnd.choice(["", "." + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 9)))])
        value = (
            f"{rnd.randint(0, 9999):04d}-{rnd.randint(0, 13):02d}-{rnd.randint(0, 32):02d}"
            f"T{rnd.randint(0, 25):02d}:{rnd.randint(0, 61):02d}:{rnd.randint(0, 61):02d}{fraction}Z"
        )
        try:
            expected: Any = parse_rfc3339(value)
        except ValueError as error:
            expected = f"doc.at {error}"
        try:
            got: Any = Obj({"at": value}, "doc").time("at")
        except InvalidInput as error:
            got = error.message
        assert got == expected, value
        if expected is not None and not isinstance(expected, str):
            assert got.tzinfo is expected.tzinfo and repr(got) == repr(expected), value
