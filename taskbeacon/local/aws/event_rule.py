"""The deployed EventBridge rule's pattern for ECS task state changes, applied in local mode.

The pattern is named once, in ``core.vocabulary`` (the stack's ``infra/events.py`` deploys it), and
matched as EventBridge does (taskbeacon/local/aws/event_pattern.py). The demo sends only what the
rule passes, as a deployed system's events Lambda sees only those: RUNNING while desired RUNNING,
and STOPPED (never PENDING or the other transitional states).
"""

from __future__ import annotations

from typing import Any, Final

from core.vocabulary import ECS_EVENT_SOURCE, TASK_STATE_CHANGE, TASK_STATE_CHANGE_DETAIL_PATTERN
from taskbeacon.local.aws.event_pattern import matches

RULE_PATTERN: Final[dict[str, Any]] = {
    "source": [ECS_EVENT_SOURCE],
    "detail-type": [TASK_STATE_CHANGE],
    "detail": TASK_STATE_CHANGE_DETAIL_PATTERN,
}


def rule_passes(event: dict[str, Any]) -> bool:
    """Whether the rule delivers ``event``."""
    return matches(RULE_PATTERN, event)
