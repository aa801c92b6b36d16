"""Sweeper Lambdas (DESIGN 3.9): a scheduled planner and a queue-driven worker.

- ``plan_handler`` (EventBridge schedule, every 12 h by default, and once after deploy): lists the
  targets (accounts x regions) and sends one message per account-region to ``SWEEP_QUEUE_URL``
  (SendMessageBatch, 10 a call).
- ``work_handler`` (SQS event source, batch size 1, ``ReportBatchItemFailures``): sweeps one
  account-region. When its time runs low, or ECS keeps throttling, it sends a continuation (the
  same account-region and where to resume) and acknowledges its message: nothing is dropped, and
  a message that fails is retried by SQS (a page done twice writes nothing new).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.observability import logger, metrics, tracer
from core.settings import get_settings
from core.sweep.targets import BadMessage, Unit, enqueue, list_targets, new_units
from handlers import wiring

CONTINUATION_DELAY_SECONDS = 30  # after throttling, give ECS's bucket time to refill


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    if not settings.sweep_queue_url:
        raise RuntimeError("SWEEP_QUEUE_URL is not set")
    region = os.environ.get("AWS_REGION") or "us-east-1"
    organizations = None if settings.sweep_accounts else wiring.sweep_clients().organizations()
    targets = list_targets(
        settings.sweep_accounts, settings.sweep_regions, organizations=organizations, own_region=region
    )
    units = new_units(targets)
    sent = enqueue(wiring.sweep_clients().sqs(), settings.sweep_queue_url, units)
    logger.info("sweep planned", extra={"targets": len(targets), "sent": sent})
    return {"targets": len(targets), "sent": sent, "sweepId": units[0].sweep_id if units else None}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def work_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    failures: list[dict[str, str]] = []
    worker = wiring.sweeper().worker()

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000.0

    for record in event.get("Records") or []:
        message_id = str(record.get("messageId", ""))
        try:
            unit = Unit.from_body(record.get("body", ""))
        except BadMessage as error:
            logger.error("sweep message dropped", extra={"messageId": message_id, "reason": str(error)})
            continue  # it would fail the same way every time
        logger.append_keys(account=unit.target.account, region=unit.target.region, part=unit.part)
        try:
            result = worker.run(unit, remaining=remaining)
            if result.continuation is not None:
                delay = CONTINUATION_DELAY_SECONDS if result.pushed_back else 0
                enqueue(
                    wiring.sweep_clients().sqs(),
                    settings.sweep_queue_url,
                    [result.continuation],
                    delay_seconds=delay,
                )
        except Exception:
            logger.exception("sweep unit failed; the queue delivers it again")
            failures.append({"itemIdentifier": message_id})
            continue
        logger.info(
            "sweep unit part done",
            extra={"done": result.done, "error": result.error, **result.totals.as_dict()},
        )
    return {"batchItemFailures": failures}
