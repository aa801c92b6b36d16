"""ECS ``DescribeTasks`` (the sweep's read of the ECS API) to an observation of source ``ecs-api``.

DescribeTasks' ``Task`` is the shape an EventBridge ``ECS Task State Change`` carries in ``detail``
(camelCase, ENI attachments, ``version``), so the events normalizer's ``parse_detail`` reads it.
What differs is how boto3 hands it over: timestamps are ``datetime`` objects, not RFC 3339 text.
They are written back as RFC 3339 UTC text (microseconds, as botocore parsed them) before the
shared reader sees them, so one parser, with one set of checks, serves both sources.

Unknown values stay ``None``: nothing is filled in that ECS did not say. ``version`` (the task's
ECS version, the same counter as the events' ``detail.version``) orders the observation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.model.task import Observation
from core.normalize.common import checked
from core.normalize.eventbridge import parse_detail
from core.normalize.reader import Obj, bad

SOURCE = "ecs-api"
REPORTER = "sweep"


def _text_times(value: Any) -> Any:
    """boto3's parsed answer with every ``datetime`` as RFC 3339 UTC text (``...Z``)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        return {key: _text_times(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_text_times(item) for item in value]
    return value


def normalize_described(task: object, *, observed_at: datetime, path: str = "tasks[0]") -> Observation:
    """One entry of ``DescribeTasks(include=["TAGS"])["tasks"]`` as the sweep saw it at ``observed_at``.

    Raises ``InvalidInput`` naming the field (relative to ``path``) when the entry is malformed.
    """
    if not isinstance(task, dict):
        raise bad(path, "must be an object")
    doc = Obj(_text_times(task), path)
    parsed = parse_detail(doc)
    version = doc.integer("version")
    if version is not None and version < 0:
        raise bad(doc.at("version"), "must not be negative")
    return checked(
        Observation,
        task=parsed,
        source=SOURCE,
        observed_at=observed_at,
        event_version=version,
        reporter=REPORTER,
    )


__all__ = ["REPORTER", "SOURCE", "normalize_described"]
