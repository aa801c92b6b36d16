"""Property tests: mutated payloads never raise anything but InvalidInput; order never matters."""

from __future__ import annotations

from collections.abc import Callable
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
from tests.mutation import json_values, mutate

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

_VALUES = json_values(non_finite=True, extra=["NONE", "service:web"])


def _mutate(data: st.DataObject, doc: Any) -> Any:
    return mutate(data, doc, _VALUES)


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
