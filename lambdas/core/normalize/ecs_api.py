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


def _text(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text_times(task: dict[str, Any]) -> dict[str, Any]:
    """boto3's Task with its ``datetime`` values as RFC 3339 UTC text (``...Z``).

    The task's own times, and those of the objects in its lists (containers, attachments), are the
    ones the parser reads; deeper ones (managed agents' start times) are not read and stay as they are.
    """
    out: dict[str, Any] = {}
    for key, value in task.items():
        if isinstance(value, datetime):
            out[key] = _text(value)
        elif isinstance(value, list):
            out[key] = [
                {k: _text(v) if isinstance(v, datetime) else v for k, v in item.items()}
                if isinstance(item, dict)
                else item
                for item in value
            ]
        else:
            out[key] = value
    return out


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
