"""Property tests: mutated payloads never raise anything but InvalidInput; order never matters."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from normalize_support import envelope, load

from core.errors import InvalidInput
from core.model.envelope import parse_rfc3339
from core.model.task import Observation
from core.normalize import normalize_event, normalize_snapshot

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**64 - 1, -(2**63), 10**40, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "\ud800",
            "☃ ünï",
            "~internal~ecs~pause",
            "CNI_PAUSE",
            "FARGATE",
            "sha256:abc",
            "repo@sha256:abc",
            "NONE",
            "service:web",
            "0001-01-01T00:00:00Z",
            "2020-10-02T00:43:06.31288465Z",
            "2020-10-02T00:43:06+25:00",
            "9999-12-31T23:59:59-23:59",
            "arn:aws:ecs:us-west-2:111122223333:cluster/x",
            "arn:aws:ecs:us-west-2:111122223333:task/abc",
            "arn:aws:ecs:us-west-2:111122223333:container-instance/abc",
            "arn:aws:ecs:us-west-2:111122223333:task-definition/f:1",
        ]
    ),
)
_json = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(data: st.DataObject, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        path = data.draw(st.sampled_from(list(_paths(doc))), label="path")
        op = data.draw(st.sampled_from(["delete", "replace", "add", "nest"]), label="op")
        if not path:
            if op == "replace":
                doc = data.draw(_json)
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = data.draw(_json)
        elif op == "nest":
            parent[key] = {"junk": [parent[key], data.draw(_json)]}
        elif isinstance(parent[key], dict):
            parent[key][data.draw(st.text(max_size=8))] = data.draw(_json)
        elif isinstance(parent[key], list):
            parent[key].append(data.draw(_json))
    return doc


SNAPSHOTS: dict[str, Callable[[], dict[str, Any]]] = {
    "v4-ec2": lambda: envelope("tmde-v4", task=load("v4-task-ec2-awsvpc.json")),
    "v4-fargate": lambda: envelope(
        "tmde-v4",
        task=load("v4-task-fargate-docs.json"),
        container=load("v4-task-fargate-docs.json")["Containers"][0],
    ),
    "v4-datadog": lambda: envelope(
        "tmde-v4",
        task=load("v4-taskwithtags-health-volumes-datadog-edited.json"),
        stats=load("v4-task-stats-managed-instances-cgroupv2-no-network.json"),
    ),
    "v4-mi-tasks": lambda: envelope("tmde-v4", tasks=load("v4-tasks-managed-instances.json")),
    "v3": lambda: envelope(
        "tmde-v3", task=load("v3-task-ec2-awsvpc.json"), container=load("v3-container-ec2-awsvpc.json")
    ),
    "v2": lambda: envelope("tmde-v2", task=load("v2-taskwithtags-ec2-awsvpc.json")),
    "metadata-file": lambda: envelope("metadata-file", task=load("metadata-file-ready-bridge.json")),
    "introspection": lambda: envelope(
        "introspection",
        tasks=[
            *load("introspection-v1-tasks.json")["Tasks"],
            load("introspection-v1-tasks-by-dockerid.json"),
        ],
    ),
}


def _check(run: Callable[[], object]) -> None:
    try:
        result = run()
    except InvalidInput as err:
        assert isinstance(err.field, str) and err.field
        return
    observations = result if isinstance(result, list) else [result]
    for obs in observations:
        assert isinstance(obs, Observation)
        obs.model_dump_json(by_alias=True)  # serializable, no NaN/surrogates


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_mutated_snapshots_raise_only_invalid_input(name: str) -> None:
    body = SNAPSHOTS[name]()

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        mutated = _mutate(data, body)
        _check(lambda: normalize_snapshot(mutated))

    run()


@FUZZ
@given(data=st.data())
def test_mutated_events_raise_only_invalid_input(data: st.DataObject) -> None:
    event = _mutate(data, load("eventbridge-task-state-change-fargate-running.json"))
    _check(lambda: normalize_event(event))


@FUZZ
@given(st.permutations(range(3)))
def test_container_order_does_not_matter(order: list[int]) -> None:
    doc = load("v4-task-ec2-bridge.json")
    base = normalize_snapshot(envelope("tmde-v4", task=doc))[0].task
    doc["Containers"] = [doc["Containers"][i] for i in order]
    assert normalize_snapshot(envelope("tmde-v4", task=doc))[0].task == base


@FUZZ
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(0, 999_999_999),
    st.integers(0, 9),
)
def test_any_number_of_fraction_digits(moment: datetime, nanos: int, digits: int) -> None:
    frac = f"{nanos:09d}"[:digits]
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    assert parse_rfc3339(text) == moment.replace(microsecond=micro, tzinfo=UTC)
