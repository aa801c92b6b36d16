"""Source ``tmde-v3``: ``${ECS_CONTAINER_METADATA_URI}/task`` (or ``/taskWithTags``).

Same document shape as v4 without the v4-only keys (no LaunchType, so no Fargate image
digest rule); container is the container document (``${URI}`` / ``/v2/metadata/<id>``).
"""

from __future__ import annotations

from core.model.envelope import Envelope
from core.model.task import Observation
from core.normalize.common import observe
from core.normalize.reader import Obj, bad
from core.normalize.tmde import parse_task


def normalize(env: Envelope) -> list[Observation]:
    if env.task is None:  # v3 has no multi-task document
        raise bad("task", "is required")
    container = Obj(env.container, "container") if env.container is not None else None
    return [observe(parse_task(Obj(env.task, "task"), container), env)]
