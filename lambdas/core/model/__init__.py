"""The normalized data model: what every source and event becomes, and what queries return."""

from core.model.record import (
    IndexItem,
    SeenState,
    StoredTask,
    StreamChange,
    TaskRecord,
    TaskState,
    WantedEntry,
    task_identity,
)
from core.model.task import Container, Network, Observation, Task

__all__ = [
    "Container",
    "IndexItem",
    "Network",
    "Observation",
    "SeenState",
    "StoredTask",
    "StreamChange",
    "Task",
    "TaskRecord",
    "TaskState",
    "WantedEntry",
    "task_identity",
]
