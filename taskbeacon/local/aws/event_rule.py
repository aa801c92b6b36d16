"""The deployed EventBridge rule's pattern for ECS task state changes, for local mode.

The rule is named once, in ``infra/events.py`` (``task_state_change_pattern``), with the CDK; local
mode cannot import the CDK (a deploy-time dependency), so this is the same pattern as data, and
``tests/local/test_event_rule.py`` fails if the two ever differ. The demo sends only what the rule
passes, as a deployed system's events Lambda sees only those: RUNNING while desired RUNNING, and
STOPPED (never PENDING or the other transitional states).
"""

from __future__ import annotations

from typing import Any, Final

SOURCE: Final = ["aws.ecs"]
DETAIL_TYPE: Final = ["ECS Task State Change"]
DETAIL: Final[dict[str, Any]] = {
    "$or": [
        {"lastStatus": ["STOPPED"]},
        {"lastStatus": ["RUNNING"], "desiredStatus": ["RUNNING"]},
    ]
}


def rule_passes(event: dict[str, Any]) -> bool:
    """Whether the rule delivers ``event`` (exact-value matching and ``$or``, all the pattern uses)."""
    if event.get("source") not in SOURCE or event.get("detail-type") not in DETAIL_TYPE:
        return False
    detail = event.get("detail")
    return isinstance(detail, dict) and _matches(detail, DETAIL)


def _matches(detail: dict[str, Any], pattern: dict[str, Any]) -> bool:
    for field, allowed in pattern.items():
        if field == "$or":
            if not any(_matches(detail, branch) for branch in allowed):
                return False
        elif detail.get(field) not in allowed:
            return False
    return True
