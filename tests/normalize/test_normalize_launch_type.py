"""Launch types are stored in ECS's canonical spelling whatever case a source used, from every source."""

from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from normalize_support import envelope, load

from core.normalize import normalize_event, normalize_snapshot
from core.normalize.common import LAUNCH_TYPES, launch_type

PROPERTY = settings(max_examples=150, derandomize=True, deadline=None, database=None)


@st.composite
def case_variants(draw: st.DrawFn, canonical: str) -> str:
    """``canonical`` with each ASCII letter independently upper or lower case."""
    flips = draw(st.lists(st.booleans(), min_size=len(canonical), max_size=len(canonical)))
    return "".join(ch.lower() if flip else ch for ch, flip in zip(canonical, flips, strict=True))


known_variants = st.sampled_from(LAUNCH_TYPES).flatmap(lambda lt: st.tuples(st.just(lt), case_variants(lt)))


def _v4_snapshot(value: str | None) -> dict[str, Any]:
    task = load("v4-task-fargate-docs.json")
    if value is None:
        task.pop("LaunchType", None)
    else:
        task["LaunchType"] = value
    return envelope("tmde-v4", task=task)


def _event(value: str | None) -> dict[str, Any]:
    event = load("eventbridge-task-state-change-fargate-running.json")
    if value is None:
        event["detail"].pop("launchType", None)
    else:
        event["detail"]["launchType"] = value
    return event


def test_the_canonical_values_are_ecs_launch_types() -> None:
    assert LAUNCH_TYPES == ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
    for canonical in LAUNCH_TYPES:
        assert launch_type(canonical) == canonical
    assert launch_type(None) is None


@pytest.mark.parametrize(
    ("given_value", "stored"),
    [
        ("fargate", "FARGATE"),
        ("Fargate", "FARGATE"),
        ("ec2", "EC2"),
        ("Ec2", "EC2"),
        ("external", "EXTERNAL"),
        ("managed_instances", "MANAGED_INSTANCES"),
        ("Managed_Instances", "MANAGED_INSTANCES"),
    ],
)
def test_examples_in_any_case(given_value: str, stored: str) -> None:
    assert launch_type(given_value) == stored


@PROPERTY
@given(pair=known_variants)
def test_every_case_variant_of_a_known_launch_type_is_canonical(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    assert launch_type(variant) == canonical


@PROPERTY
@given(value=st.text(max_size=40))
def test_any_value_is_ascii_upper_cased_idempotently_and_keeps_its_length(value: str) -> None:
    out = launch_type(value)
    assert out is not None
    assert len(out) == len(value)
    assert out == launch_type(out)
    assert not any(ch in string.ascii_lowercase for ch in out)
    # Only ASCII letters change: everything else is kept exactly as given.
    for before, after in zip(value, out, strict=True):
        assert after == (before.upper() if before in string.ascii_lowercase else before)


@pytest.mark.parametrize(
    "lookalike",
    ["managed_\u0131nstances", "managed_in\u017ftances", "\uff26ARGATE", "FARGATE ", " ec2", "EC-2"],
)
def test_lookalikes_and_near_misses_are_not_taken_for_a_known_value(lookalike: str) -> None:
    assert launch_type(lookalike) not in LAUNCH_TYPES


def test_an_unknown_launch_type_is_kept_upper_cased() -> None:
    assert launch_type("Spot_Fleet") == "SPOT_FLEET"


@PROPERTY
@given(pair=known_variants)
def test_tmde_v4_snapshots_store_the_canonical_launch_type(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    (obs,) = normalize_snapshot(_v4_snapshot(variant))
    assert obs.task.launch_type == canonical


@PROPERTY
@given(pair=known_variants)
def test_events_store_the_canonical_launch_type(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    obs = normalize_event(_event(variant))
    assert obs.task.launch_type == canonical


@PROPERTY
@given(pair=known_variants)
def test_managed_instances_tasks_store_the_canonical_launch_type(pair: tuple[str, str]) -> None:
    canonical, variant = pair
    tasks = copy.deepcopy(load("v4-tasks-managed-instances.json"))
    for task in tasks:
        task["LaunchType"] = variant
    for obs in normalize_snapshot(envelope("tmde-v4", tasks=tasks)):
        assert obs.task.launch_type == canonical


@pytest.mark.parametrize("variant", ["fargate", "Fargate", "FARGATE", "fArGaTe"])
def test_fargate_image_ids_are_manifest_digests_whatever_the_case(variant: str) -> None:
    """The launch type decides what ``ImageID`` means, so it is canonical before that decision."""
    (obs,) = normalize_snapshot(_v4_snapshot(variant))
    app = [c for c in obs.task.containers if not c.internal]
    assert app
    assert all(c.image_digest is not None and c.image_digest == c.image_id for c in app if c.image_id)


@pytest.mark.parametrize("variant", ["ec2", "Ec2", "EC2"])
def test_ec2_image_ids_are_never_manifest_digests_whatever_the_case(variant: str) -> None:
    task = load("v4-task-ec2-awsvpc.json")
    task["LaunchType"] = variant
    (obs,) = normalize_snapshot(envelope("tmde-v4", task=task))
    assert obs.task.launch_type == "EC2"
    assert all(c.image_digest is None for c in obs.task.containers if "@sha256:" not in (c.image or ""))


@pytest.mark.parametrize(
    "body",
    [
        lambda: _v4_snapshot(None),
        lambda: envelope("tmde-v3", task=load("v3-task-ec2-awsvpc.json")),
        lambda: envelope("tmde-v2", task=load("v2-taskwithtags-ec2-awsvpc.json")),
        lambda: envelope("metadata-file", task=load("metadata-file-ready-bridge.json")),
        lambda: envelope("introspection", tasks=load("introspection-v1-tasks.json")["Tasks"]),
    ],
    ids=["v4-without-key", "v3", "v2", "metadata-file", "introspection"],
)
def test_sources_without_a_launch_type_leave_it_unknown(body: Any) -> None:
    """v2, v3, the metadata file and introspection never say; the events fill it in (no guess)."""
    for obs in normalize_snapshot(body()):
        assert obs.task.launch_type is None


def test_an_event_without_a_launch_type_leaves_it_unknown() -> None:
    assert normalize_event(_event(None)).task.launch_type is None
