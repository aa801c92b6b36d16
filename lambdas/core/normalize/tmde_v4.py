"""Source ``tmde-v4``: ``${ECS_CONTAINER_METADATA_URI_V4}/task`` (or ``/taskWithTags``).

Also accepts ``tasks`` (``/tasks``, Managed Daemon tasks on ECS Managed Instances), one
observation per task. ``container`` is the reporting container's own document.
"""

from __future__ import annotations

from core.model.envelope import Envelope
from core.model.task import Observation
from core.normalize.common import check_unique, observe
from core.normalize.reader import Obj
from core.normalize.tmde import parse_task


def normalize(env: Envelope) -> list[Observation]:
    container = Obj(env.container, "container") if env.container is not None else None
    if env.task is not None:
        return [observe(parse_task(Obj(env.task, "task"), container), env)]
    tasks = [
        (parse_task(Obj.of(doc, f"tasks[{i}]")), f"tasks[{i}].TaskARN")
        for i, doc in enumerate(env.tasks or [])
    ]
    return [observe(task, env) for task in check_unique(tasks)]
