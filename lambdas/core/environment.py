"""The environment the stack gives every function: each variable name spelled once, here.

infra/functions.py sets these, ``core.settings`` and ``core.observability`` read them, and local mode,
the handler tests and the benchmarks set them for the handlers they run. Standard library only, so the
stack imports it without pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

SERVICE: Final = "taskbeacon"  # Powertools' service: every log line and the metrics' dimension
NAMESPACE: Final = "TaskBeacon"  # the custom metrics' CloudWatch namespace
# The indexer's alone, beside the settings: the URL of its on-failure queue (infra/indexing.py).
FAILURE_QUEUE_ENV: Final = "INDEXER_FAILURE_QUEUE_URL"

# The variable that carries each ``core.settings.Settings`` field.
ENV_NAMES: Final[Mapping[str, str]] = {
    "table_name": "TABLE_NAME",
    "collector_role_arns": "COLLECTOR_ROLE_ARNS",
    "stopped_retention_days": "STOPPED_RETENTION_DAYS",
    "keepalive_seconds": "KEEPALIVE_SECONDS",
    "max_body_bytes": "MAX_BODY_BYTES",
    "history_limit": "HISTORY_LIMIT",
    "describe_tasks_cross_check": "DESCRIBE_TASKS_CROSS_CHECK",
    "sweep_accounts": "SWEEP_ACCOUNTS",
    "sweep_regions": "SWEEP_REGIONS",
    "sweep_role_name": "SWEEP_ROLE_NAME",
    "sweep_worker_function": "SWEEP_WORKER_FUNCTION",
    "sweep_calls_per_second": "SWEEP_CALLS_PER_SECOND",
    "events_from_organization": "EVENTS_FROM_ORGANIZATION",
    # The EventBridge bus (name or ARN) the indexer publishes change events to (docs/events.md);
    # empty: none; "local": local mode's in-process bus (core.publish.LOCAL_BUS).
    "change_events_bus": "CHANGE_EVENTS_BUS",
}


def environment(*, tracing: bool = False, **settings: str) -> dict[str, str]:
    """The variables for these settings (by ``Settings`` field name), plus Powertools' own.

    An unknown field is a KeyError, so a misspelled setting fails where it is written.
    """
    unknown = sorted(settings.keys() - ENV_NAMES.keys())
    if unknown:
        raise KeyError(f"not a setting: {', '.join(unknown)}")
    return {
        **{ENV_NAMES[name]: value for name, value in settings.items()},
        "POWERTOOLS_SERVICE_NAME": SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        # Tracer off unless tracing is on; when on, responses (inventory) never go into traces.
        "POWERTOOLS_TRACE_DISABLED": str(not tracing).lower(),
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    }
