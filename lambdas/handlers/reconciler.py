"""Reconciler Lambda (scheduled): recompute the summary counters from the index, repair drift."""

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
    if result.repaired:
        logger.warning(
            "summary counters drifted; repaired",
            extra={"drift": result.drift, "groups": len(result.repaired)},
        )
    return {"groups": result.groups, "drift": result.drift, "unsettled": result.unsettled}
