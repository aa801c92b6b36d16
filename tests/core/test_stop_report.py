"""``stop_report``: the agent skips its stop snapshot only when ECS's STOPPED event reaches the
inventory for every task it reports."""

from __future__ import annotations

import pytest

from core.logic.ingest import stop_report

OWN, REGION = "111122223333", "us-east-1"


def _identity(account: str = OWN, region: str = REGION, task_id: str = "a" * 32) -> str:
    return f"aws#{account}#{region}#{task_id}"


def test_tasks_of_the_own_account_and_region_skip() -> None:
    identities = [_identity(task_id="a" * 32), _identity(task_id="b" * 32)]
    assert stop_report(identities, OWN, REGION, events_from_organization=False) == "skip"


@pytest.mark.parametrize(
    "other", [_identity(account="444455556666"), _identity(region="eu-west-1")], ids=["account", "region"]
)
def test_a_task_of_another_account_or_region_sends(other: str) -> None:
    identities = [_identity(), other]
    assert stop_report(identities, OWN, REGION, events_from_organization=False) == "send"
    # unless every member of the organization forwards its events
    assert stop_report(identities, OWN, REGION, events_from_organization=True) == "skip"


@pytest.mark.parametrize("organization", [False, True])
def test_no_task_sends(organization: bool) -> None:
    assert stop_report([], OWN, REGION, events_from_organization=organization) == "send"


def test_an_identity_that_is_not_a_task_key_sends() -> None:
    assert stop_report([OWN], OWN, REGION, events_from_organization=False) == "send"
