"""Reconciler Lambda (scheduled): renew the index leases of long-running tasks (core.logic.reconcile)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.observability import logger, metrics, tracer
from handlers import wiring


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = wiring.reconciler().run()
    logger.info("leases renewed", extra={"checked": result.checked, "renewed": result.renewed})
    return {"checked": result.checked, "renewed": result.renewed, "changedMeanwhile": result.changed}
