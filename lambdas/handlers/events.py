"""Events Lambda: EventBridge "ECS Task State Change" → the same newer-wins write as snapshots."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from core.errors import InvalidInput, PayloadTooLarge, TaskBeaconError
from core.jsonbody import check_document
from core.logic.ingest import ingest_event
from core.observability import count_rejection, logger, metrics, tracer
from handlers import wiring


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        # Nesting, text and numbers the store cannot hold, named by place (``detail.version``),
        # before anything else walks the event.
        check_document(event, root="event")
        envelope = parse(event=event, model=EventBridgeModel)  # the EventBridge envelope itself
        logger.append_keys(detail_type=envelope.detail_type, event_source=envelope.source)
        result = ingest_event(event, wiring.recorder())
    except (InvalidInput, PayloadTooLarge, ValidationError) as error:
        # A malformed or oversized event can never succeed on retry: record it and drop it
        # instead of letting Lambda's async retries carry it into the dead-letter queue.
        # Throttling is raised on purpose: Lambda retries the invocation (twice), then the DLQ.
        field = error.field if isinstance(error, TaskBeaconError) else _first_location(error)
        message = error.message if isinstance(error, TaskBeaconError) else "not an EventBridge event"
        code = error.code if isinstance(error, TaskBeaconError) else "invalid_event"
        logger.warning("event rejected", extra={"code": code, "field": field, "reason": message})
        count_rejection(code)
        return {"accepted": False, "error": message, "field": field}
    (outcome,) = result.outcomes
    logger.info(
        "event accepted",
        extra={"normalize_ms": result.normalize_ms, "write_items": outcome.write_items},
    )
    return {"accepted": True, "taskId": outcome.task_id, "changed": outcome.changed}


def _first_location(error: ValidationError) -> str:
    errors = error.errors()
    return ".".join(str(part) for part in errors[0]["loc"]) if errors else "event"
