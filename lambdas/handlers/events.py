"""Events Lambda: EventBridge "ECS Task State Change" → the same newer-wins write as snapshots."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.errors import InvalidInput
from core.logic.ingest import ingest_event
from core.observability import MetricUnit, logger, metrics, tracer
from handlers import wiring


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        outcome = ingest_event(event, wiring.store())
    except InvalidInput as error:
        # A malformed event can never succeed on retry: record it and drop it instead of looping.
        logger.warning("event rejected", extra={"field": error.field, "reason": error.message})
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
        return {"accepted": False, "error": error.message, "field": error.field}
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=1)
    return {"accepted": True, "taskId": outcome.task_id, "changed": outcome.changed}
