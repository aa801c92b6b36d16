"""Drift (issue 17 item 2): does a running service task run what its service's current deployment
asked for? Pure: ECS's answers in (as botocore parses them), verdicts out; no boto3, no I/O.

- The current deployment (``current_deployment``): of a service's ``ListServiceDeployments`` page,
  the newest by ``createdAt`` (the API reference states no order, so we sort). SUCCESSFUL: its
  ``targetServiceRevisionArn`` is what the service runs. ROLLBACK_SUCCESSFUL: ECS went back to the
  last successfully deployed revision (it creates no revision for a rollback), so the newest
  SUCCESSFUL deployment created before it says what runs. Anything else (PENDING, IN_PROGRESS,
  STOP_REQUESTED, ROLLBACK_REQUESTED/IN_PROGRESS/FAILED, STOPPED): not judged now, so a rolling
  deployment never flags the tasks it is about to replace.
- The verdict (``judge``): drifted when the task's task definition (family:revision) differs from
  the revision's, or a container the revision names runs another repository digest than the one ECS
  resolved for it. A digest unknown on either side is not judged (that container is not drifted).
- ``carried``: the verdict a record keeps. The same verdict as stored keeps the stored one (and its
  ``since``), so a sweep that finds nothing new writes nothing.

See docs/decisions.md "Drift".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from core.logic.lifecycle import RUNNING
from core.model.task import ContainerDrift, Drift, Task

SUCCESSFUL: Final = "SUCCESSFUL"
ROLLBACK_SUCCESSFUL: Final = "ROLLBACK_SUCCESSFUL"
MAX_REVISIONS_PER_CALL: Final = 20  # DescribeServiceRevisions' limit


@dataclass(frozen=True)
class Deployment:
    """What a service should run: the current deployment and the revision it stands for."""

    deployment_arn: str
    revision_arn: str


@dataclass(frozen=True)
class Revision:
    """A service revision, reduced to what drift compares: its task definition and the digest ECS
    resolved for each container (None when ECS did not say)."""

    arn: str
    task_definition: str
    digests: Mapping[str, str | None]


def judged(task: Task) -> bool:
    """Only running service tasks are judged; a standalone task has no service revision."""
    return bool(task.service_name) and task.last_status == RUNNING


def _created(deployment: Mapping[str, Any]) -> datetime:
    moment = deployment.get("createdAt") or deployment.get("startedAt")
    if not isinstance(moment, datetime):
        return datetime(1970, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def current_deployment(deployments: Iterable[Mapping[str, Any]]) -> Deployment | None:
    """What the service should run now, from its ``serviceDeployments``; None: do not judge now."""
    ordered = sorted((d for d in deployments if isinstance(d, Mapping)), key=_created, reverse=True)
    if not ordered:
        return None
    newest = ordered[0]
    arn = newest.get("serviceDeploymentArn")
    if not isinstance(arn, str):
        return None
    status = newest.get("status")
    if status == SUCCESSFUL:
        target = newest.get("targetServiceRevisionArn")
        return Deployment(arn, target) if isinstance(target, str) and target else None
    if status == ROLLBACK_SUCCESSFUL:
        for earlier in ordered[1:]:
            target = earlier.get("targetServiceRevisionArn")
            if earlier.get("status") == SUCCESSFUL and isinstance(target, str) and target:
                return Deployment(arn, target)
    return None


def revisions(answer: Mapping[str, Any]) -> dict[str, Revision]:
    """A ``DescribeServiceRevisions`` answer by revision ARN (failures and malformed entries left out)."""
    found: dict[str, Revision] = {}
    for entry in answer.get("serviceRevisions") or []:
        if not isinstance(entry, Mapping):
            continue
        arn, definition = entry.get("serviceRevisionArn"), entry.get("taskDefinition")
        if not isinstance(arn, str) or not isinstance(definition, str):
            continue
        digests: dict[str, str | None] = {}
        for image in entry.get("containerImages") or []:
            if isinstance(image, Mapping) and isinstance(image.get("containerName"), str):
                digest = image.get("imageDigest")
                digests[image["containerName"]] = digest if isinstance(digest, str) and digest else None
        found[arn] = Revision(arn, definition, digests)
    return found


def family_revision(task_definition: str) -> str:
    """``family:revision`` of a task definition ARN (or of ``family:revision`` itself)."""
    return task_definition.rsplit("/", 1)[-1]


def judge(task: Task, deployment: Deployment, revision: Revision, *, now: datetime) -> Drift:
    """The verdict on one running service task against its service's current revision."""
    expected = family_revision(revision.task_definition)
    definition_drifted = bool(task.family and task.revision) and f"{task.family}:{task.revision}" != expected
    running = {c.name: c for c in task.containers if not c.internal}
    containers = []
    for name in sorted(revision.digests):
        wanted = revision.digests[name]
        container = running.get(name)
        actual = container.image_digest if container is not None else None
        containers.append(
            ContainerDrift(
                name=name,
                expected_digest=wanted,
                actual_digest=actual,
                drifted=wanted is not None and actual is not None and wanted != actual,
            )
        )
    return Drift(
        drifted=definition_drifted or any(c.drifted for c in containers),
        service_revision_arn=revision.arn,
        service_deployment_arn=deployment.deployment_arn,
        expected_task_definition=revision.task_definition,
        containers=containers,
        task_definition_drifted=definition_drifted,
        since=now,
    )


def same_verdict(before: Drift | None, after: Drift | None) -> bool:
    """Whether two verdicts say the same (``since`` aside)."""
    if before is None or after is None:
        return before is after
    return before.model_dump(exclude={"since"}) == after.model_dump(exclude={"since"})


def carried(stored: Drift | None, judged_now: Drift | None) -> Drift | None:
    """The verdict a record keeps: the stored one unless the sweep judged now and judged otherwise."""
    if judged_now is None or same_verdict(stored, judged_now):
        return stored
    return judged_now


def is_drifted(task: Task) -> bool:
    return task.drift is not None and task.drift.drifted


__all__ = [
    "MAX_REVISIONS_PER_CALL",
    "Deployment",
    "Revision",
    "carried",
    "current_deployment",
    "family_revision",
    "is_drifted",
    "judge",
    "judged",
    "revisions",
    "same_verdict",
]
