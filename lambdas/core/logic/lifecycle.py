"""The ECS task lifecycle order: a task's status only ever moves forward along it."""

from __future__ import annotations

# TMDE reports container-agent states (NONE, PULLED, CREATED, ...); EventBridge and the ECS API
# report the task lifecycle. Both are ranked on one scale so late or mixed reports never regress.
_RANK: dict[str, int] = {
    "NONE": 0,
    "PROVISIONING": 0,
    "MANIFEST_PULLED": 1,
    "PENDING": 1,
    "PULLED": 1,
    "CREATED": 1,
    "ACTIVATING": 2,
    "RUNNING": 3,
    "RESOURCES_PROVISIONED": 3,
    "DEACTIVATING": 4,
    "STOPPING": 5,
    "DEPROVISIONING": 6,
    "STOPPED": 7,
}

STOPPED = "STOPPED"
# The statuses a stored task can have (normalizers map agent-side states onto these), in order.
TASK_STATUSES: tuple[str, ...] = (
    "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING",
    "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
)  # fmt: skip
# Every status a task can be counted under before it stops (the reconciler reads these partitions).
ACTIVE_STATUSES: tuple[str, ...] = tuple(status for status in _RANK if status != "STOPPED")
RUNNING = "RUNNING"


def status_rank(status: str | None) -> int:
    """Rank of a status; unknown values rank lowest so they never override a known state."""
    if status is None:
        return -1
    return _RANK.get(status.upper(), -1)


def later_status(current: str | None, incoming: str | None) -> str | None:
    """The status to keep: the incoming one unless it would move the task backwards."""
    if incoming is None:
        return current
    if current is None:
        return incoming
    return incoming if status_rank(incoming) >= status_rank(current) else current


def is_stopped(status: str | None) -> bool:
    return status is not None and status.upper() == STOPPED
