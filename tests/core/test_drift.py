"""Drift's pure judgment (core/logic/drift.py) against the answers AWS documents for
ListServiceDeployments and DescribeServiceRevisions (tests/fixtures/ecs-drift, each validated by
botocore's Stubber against the ECS service model), and how a verdict rides the merge and makes
``Task Drifted`` once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from core.logic import drift
from core.logic.change_events import TASK_DRIFTED, derive
from core.logic.merge import merge
from core.model import Container, Observation, StreamChange, Task, TaskRecord
from core.store.records import record_body, record_from_item, record_item
from tests.store.builders import T0, event, task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ecs-drift"
REVISION = (
    "arn:aws:ecs:us-east-1:123456789012:service-revision/example-cluster/example-service/1485800978477494678"
)
DEPLOYMENT = (
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/example-cluster/example-service/"
    "ejGvqq2ilnbKT9qj0vLJe"
)
WEB = "sha256:28402db69fec7c17e179ea87882667f1e054391138f77ffaf0c3eb388efc3ffb"
OTEL = "sha256:7a1b3560655071bcacd66902c20ebe9a69470d5691fe3bd36baace7c2f3c4640"


def _timestamps(value: Any) -> Any:
    """The CLI prints timestamps as ISO text; botocore hands (and Stubber expects) datetimes."""
    if isinstance(value, dict):
        return {k: _timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_timestamps(v) for v in value]
    if isinstance(value, str) and len(value) > 19 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value)
    return value


def _answer(operation: str, fixture: str, **params: Any) -> dict[str, Any]:
    """The fixture as boto3 returns it, through a Stubber (which validates it against the model)."""
    document = _timestamps(json.loads((FIXTURES / fixture).read_text()))
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response(operation, document, params)
        method = {"list_service_deployments": client.list_service_deployments,
                  "describe_service_revisions": client.describe_service_revisions}[operation]  # fmt: skip
        answer: dict[str, Any] = method(**params)
    return answer


def _deployments(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return list(entries)


def _brief(status: str, minutes: int, revision: str) -> dict[str, Any]:
    return {
        "serviceDeploymentArn": f"{DEPLOYMENT}-{minutes}",
        "createdAt": T0 + timedelta(minutes=minutes),
        "status": status,
        "targetServiceRevisionArn": revision,
    }


def _running(
    family: str = "webserver", revision: str = "5", web: str | None = WEB, otel: str | None = OTEL
) -> Task:
    base = task(7)
    return base.model_copy(
        update={
            "family": family,
            "revision": revision,
            "service_name": "example-service",
            "containers": [
                Container(name="aws-otel-collector", image_digest=otel),
                Container(name="web", image="nginx", image_digest=web),
            ],
        }
    )


@pytest.fixture(scope="module")
def documented() -> tuple[drift.Deployment, drift.Revision]:
    listed = _answer(
        "list_service_deployments",
        "list-service-deployments.json",
        cluster="example-cluster",
        service="example-service",
    )
    deployment = drift.current_deployment(listed["serviceDeployments"])
    assert deployment == drift.Deployment(DEPLOYMENT, REVISION)
    described = _answer(
        "describe_service_revisions", "describe-service-revisions.json", serviceRevisionArns=[REVISION]
    )
    revisions = drift.revisions(described)
    assert set(revisions) == {REVISION}
    return deployment, revisions[REVISION]


def test_a_shape_typo_in_a_recorded_answer_fails_botocore_validation() -> None:
    document = json.loads((FIXTURES / "describe-service-revisions.json").read_text())
    document["serviceRevisions"][0]["containerImages"][0]["imageDigests"] = "typo"
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with pytest.raises(Exception, match="imageDigests"):
        Stubber(client).add_response("describe_service_revisions", _timestamps(document))


def test_the_documented_revision_reads_as_its_task_definition_and_digests(documented: Any) -> None:
    _, revision = documented
    assert revision.task_definition == "arn:aws:ecs:us-east-1:123456789012:task-definition/webserver:5"
    assert dict(revision.digests) == {"aws-otel-collector": OTEL, "web": WEB}


def test_a_task_running_what_was_deployed_is_not_drifted(documented: Any) -> None:
    verdict = drift.judge(_running(), *documented, now=T0)
    assert not verdict.drifted and not verdict.task_definition_drifted
    assert verdict.service_revision_arn == REVISION and verdict.service_deployment_arn == DEPLOYMENT
    assert [c.model_dump(by_alias=True) for c in verdict.containers] == [
        {"name": "aws-otel-collector", "expectedDigest": OTEL, "actualDigest": OTEL, "drifted": False},
        {"name": "web", "expectedDigest": WEB, "actualDigest": WEB, "drifted": False},
    ]
    assert verdict.source == "ecs-api" and verdict.since == T0


def test_an_old_task_definition_is_drifted(documented: Any) -> None:
    verdict = drift.judge(_running(revision="4"), *documented, now=T0)
    assert verdict.drifted and verdict.task_definition_drifted
    assert not any(c.drifted for c in verdict.containers)


def test_a_container_on_another_digest_is_drifted_and_named(documented: Any) -> None:
    verdict = drift.judge(_running(web="sha256:" + "0" * 64), *documented, now=T0)
    assert verdict.drifted and not verdict.task_definition_drifted
    assert [c.name for c in verdict.containers if c.drifted] == ["web"]


def test_an_unknown_digest_is_not_judged(documented: Any) -> None:
    verdict = drift.judge(_running(web=None), *documented, now=T0)
    assert not verdict.drifted
    web = next(c for c in verdict.containers if c.name == "web")
    assert web.actual_digest is None and not web.drifted
    unresolved = drift.Revision(REVISION, "webserver:5", {"web": None, "aws-otel-collector": OTEL})
    verdict = drift.judge(_running(web="sha256:" + "1" * 64), documented[0], unresolved, now=T0)
    assert not verdict.drifted


def test_only_running_service_tasks_are_judged() -> None:
    assert drift.judged(_running())
    assert not drift.judged(_running().model_copy(update={"service_name": None}))  # standalone
    assert not drift.judged(_running().model_copy(update={"last_status": "PENDING"}))


def test_the_newest_successful_deployment_decides_whatever_the_listing_order() -> None:
    listed = _deployments(_brief("SUCCESSFUL", 0, "rev-old"), _brief("SUCCESSFUL", 30, "rev-new"))
    assert drift.current_deployment(listed) == drift.Deployment(f"{DEPLOYMENT}-30", "rev-new")
    assert drift.current_deployment(list(reversed(listed))) == drift.Deployment(f"{DEPLOYMENT}-30", "rev-new")


def test_a_rollback_judges_against_the_successful_deployment_before_it() -> None:
    listed = _deployments(_brief("SUCCESSFUL", 0, "rev-good"), _brief("ROLLBACK_SUCCESSFUL", 30, "rev-bad"))
    assert drift.current_deployment(listed) == drift.Deployment(f"{DEPLOYMENT}-30", "rev-good")
    assert drift.current_deployment([_brief("ROLLBACK_SUCCESSFUL", 30, "rev-bad")]) is None


@pytest.mark.parametrize(
    "status",
    [
        "PENDING",
        "IN_PROGRESS",
        "STOP_REQUESTED",
        "ROLLBACK_REQUESTED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "STOPPED",
    ],
)
def test_a_deployment_not_settled_is_not_judged(status: str) -> None:
    listed = _deployments(_brief("SUCCESSFUL", 0, "rev-old"), _brief(status, 30, "rev-new"))
    assert drift.current_deployment(listed) is None
    assert drift.current_deployment([]) is None  # a service without deployments: not judged either


# -- the verdict in the record ------------------------------------------------------------------
def _sweep(t: Task, verdict: drift.Drift | None, *, version: int, at: datetime) -> Observation:
    return Observation(
        task=t.model_copy(update={"drift": verdict}), source="ecs-api", observed_at=at, event_version=version
    )


def test_the_same_verdict_changes_nothing_and_a_new_one_is_recorded_with_its_since(documented: Any) -> None:
    t = _running()
    first = merge(
        None, _sweep(t, drift.judge(t, *documented, now=T0), version=3, at=T0), now=T0, history_limit=10
    )
    assert first is not None and first.task.drift is not None and first.task.drift.since == T0
    later = T0 + timedelta(hours=12)
    same = drift.judge(t, *documented, now=later)
    assert merge(first, _sweep(t, same, version=3, at=later), now=later, history_limit=10) is None
    moved = drift.judge(t.model_copy(update={"revision": "4"}), *documented, now=later)
    changed = merge(first, _sweep(t, moved, version=3, at=later), now=later, history_limit=10)
    assert changed is not None and changed.task.drift == moved and changed.task.drift.since == later


def test_agents_and_events_keep_the_stored_verdict(documented: Any) -> None:
    t = _running(revision="4")
    judged = merge(
        None, _sweep(t, drift.judge(t, *documented, now=T0), version=3, at=T0), now=T0, history_limit=10
    )
    assert judged is not None
    newer = event(t.model_copy(update={"health_status": "HEALTHY", "drift": None}), version=4, second=5)
    after = merge(judged, newer, now=T0, history_limit=10)
    assert after is not None and after.task.drift == judged.task.drift


def test_a_never_judged_task_stores_no_drift_field_and_reads_back_as_null() -> None:
    record = TaskRecord(task=task(1))
    item = record_item("aws#111122223333#us-east-1#" + task(1).task_id, record, [], None)
    assert "drift" not in record_body(item)["doc"]  # a launch's record is byte for byte as before
    restored = record_from_item(item)
    assert restored.task.drift is None
    assert restored.task.model_dump(by_alias=True, mode="json")["drift"] is None


def _change(old: Task | None, new: Task) -> StreamChange:
    def record(t: Task) -> TaskRecord:
        return TaskRecord(task=t.model_copy(update={"first_seen_at": T0, "last_seen_at": T0}))

    return StreamChange(
        identity="aws#111122223333#us-east-1#" + new.task_id,
        sequence="1",
        new=record(new),
        old=record(old) if old is not None else None,
    )


def test_task_drifted_is_derived_once_with_a_replay_stable_id(documented: Any) -> None:
    t = _running()
    fine = t.model_copy(update={"drift": drift.judge(t, *documented, now=T0)})
    moved = t.model_copy(update={"revision": "4"})
    drifted = moved.model_copy(
        update={"drift": drift.judge(moved, *documented, now=T0 + timedelta(hours=12))}
    )
    (first,) = [e for e in derive([_change(fine, drifted)]).events if e.kind == TASK_DRIFTED]
    (again,) = [e for e in derive([_change(None, drifted)]).events if e.kind == TASK_DRIFTED]
    assert first.id == again.id  # a replay reproduces it
    assert first.detail["eventId"] == first.id
    assert first.detail["taskDefinitionDrifted"] is True
    assert first.detail["serviceRevisionArn"] == REVISION and first.detail["since"] == "2026-11-28T21:00:00Z"
    assert first.detail["containers"][1] == {
        "name": "web",
        "expectedDigest": WEB,
        "actualDigest": WEB,
        "drifted": False,
    }
    # Still drifted (a later report), not judged, or back in line: no event.
    assert [e for e in derive([_change(drifted, drifted)]).events if e.kind == TASK_DRIFTED] == []
    assert [e for e in derive([_change(t, t)]).events if e.kind == TASK_DRIFTED] == []
    assert [e for e in derive([_change(drifted, fine)]).events if e.kind == TASK_DRIFTED] == []


def _reader_over(pages: list[dict[str, Any]]) -> tuple[Any, Stubber]:
    """An EcsReader whose client answers ListServiceDeployments with ``pages`` in turn (validated)."""
    from core.sweep.ecs import PAGE_SIZE, EcsReader
    from core.sweep.ratelimit import TokenBucket

    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for number, page in enumerate(pages):
        params: dict[str, Any] = {
            "cluster": "example-cluster",
            "service": "example-service",
            "maxResults": PAGE_SIZE,
        }
        if number:
            params["nextToken"] = f"page-{number}"
        stub.add_response("list_service_deployments", page, params)
    stub.activate()
    return EcsReader(client, TokenBucket(1000.0)), stub


def test_the_newest_deployment_is_found_on_any_page_of_the_listing() -> None:
    # The API states no order: the newest (SUCCESSFUL, revision B) comes on the second page, after
    # an older SUCCESSFUL one (revision A). Reading one page would judge against A.
    old, new = _brief("SUCCESSFUL", 0, f"{REVISION}-A"), _brief("SUCCESSFUL", 90, f"{REVISION}-B")
    reader, stub = _reader_over(
        [{"serviceDeployments": [old], "nextToken": "page-1"}, {"serviceDeployments": [new]}]
    )
    listed = reader.list_service_deployments("example-cluster", "example-service")
    stub.assert_no_pending_responses()
    assert drift.current_deployment(listed) == drift.Deployment(new["serviceDeploymentArn"], f"{REVISION}-B")
    # Kept for the invocation: asking again makes no call (the Stubber would refuse one).
    assert reader.list_service_deployments("example-cluster", "example-service") == listed
    assert reader.stats.calls["ListServiceDeployments"] == 2


def test_a_listing_too_long_to_read_leaves_the_service_unjudged() -> None:
    from core.sweep.ecs import DEPLOYMENT_PAGES

    pages = [
        {"serviceDeployments": [_brief("SUCCESSFUL", n, f"{REVISION}-{n}")], "nextToken": f"page-{n + 1}"}
        for n in range(DEPLOYMENT_PAGES)
    ]
    reader, stub = _reader_over(pages)
    assert reader.list_service_deployments("example-cluster", "example-service") == []
    stub.assert_no_pending_responses()
