"""The deployed EventBridge rule's pattern for ECS task state changes, applied in local mode.

The pattern is named once, in ``core.vocabulary`` (the stack's ``infra/events.py`` deploys it); this
module matches events against it as EventBridge does, for the parts the pattern uses (exact values
and ``$or``). The demo sends only what the rule passes, as a deployed system's events Lambda sees
only those: RUNNING while desired RUNNING, and STOPPED (never PENDING or the other transitional
states).
"""

from __future__ import annotations

from typing import Any

from core.vocabulary import ECS_EVENT_SOURCE, TASK_STATE_CHANGE, TASK_STATE_CHANGE_DETAIL_PATTERN


def rule_passes(event: dict[str, Any]) -> bool:
    """Whether the rule delivers ``event``."""
    if event.get("source") != ECS_EVENT_SOURCE or event.get("detail-type") != TASK_STATE_CHANGE:
        return False
    detail = event.get("detail")
    return isinstance(detail, dict) and _matches(detail, TASK_STATE_CHANGE_DETAIL_PATTERN)


def _matches(detail: dict[str, Any], pattern: dict[str, Any]) -> bool:
    for field, allowed in pattern.items():
        if field == "$or":
            if not any(_matches(detail, branch) for branch in allowed):
                return False
        elif detail.get(field) not in allowed:
            return False
    return True
