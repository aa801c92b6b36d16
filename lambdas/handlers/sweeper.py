"""Sweeper Lambdas (DESIGN 3.9): a scheduled planner and a worker invoked asynchronously.

No queue is polled (a polled queue bills its empty receives all month: docs/decisions/sweep.md
"Transport"). The transport is Lambda's own asynchronous invocation queue:

- ``plan_handler`` (EventBridge schedule, every 12 h by default, and once after deploy): lists the
  targets (accounts x regions) and invokes the worker ``SWEEP_WORKER_FUNCTION`` asynchronously once
  per account-region (``InvocationType=Event``, the unit's JSON body as the payload).
- ``work_handler`` (asynchronous invocations only): its event is one unit. It sweeps that
  account-region; when its time runs low, or ECS keeps throttling, it invokes itself asynchronously
  with the continuation (the same account-region and where to resume). After throttling it first
  pauses a few seconds when its time allows (``PUSHBACK_PAUSE_SECONDS``), else re-invokes at once: a
  continuation that meets throttling again pushes back again, and Lambda's queue holds what the
  worker's reserved concurrency cannot run yet. An exception propagates: Lambda retries the event
  (twice), then sends it to the on-failure destination, the events dead-letter queue (alarmed); a
  page done twice writes nothing new. An event that is not a unit is logged and dropped (it would
  fail the same way every time).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.environment import ENV_NAMES
from core.observability import logger, metrics, tracer
from core.settings import get_settings
from core.sweep.targets import BadMessage, Unit, invoke_units, list_targets, new_units
from handlers import wiring

# After throttling, give ECS's bucket a little time to refill before the continuation starts, when
# the invocation has that time left beyond RESERVE_SECONDS (else the continuation starts at once).
PUSHBACK_PAUSE_SECONDS = 5.0
RESERVE_SECONDS = 10.0
_sleep = time.sleep  # tests replace it


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def plan_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    if not settings.sweep_worker_function:
        raise RuntimeError(f"{ENV_NAMES['sweep_worker_function']} is not set")
    region = os.environ.get("AWS_REGION") or "us-east-1"
    organizations = None if settings.sweep_accounts else wiring.sweep_clients().organizations()
    targets = list_targets(
        settings.sweep_accounts, settings.sweep_regions, organizations=organizations, own_region=region
    )
    units = new_units(targets)
    sent = invoke_units(wiring.sweep_clients().lambda_(), settings.sweep_worker_function, units)
    logger.info("sweep planned", extra={"targets": len(targets), "sent": sent})
    return {"targets": len(targets), "sent": sent, "sweepId": units[0].sweep_id if units else None}


def own_function_arn(context: LambdaContext) -> str:
    """The worker's unqualified ARN (``arn:aws:lambda:region:account:function:name``): what its role
    may invoke; a qualifier (version or alias) in the invoked ARN is dropped."""
    return ":".join(str(context.invoked_function_arn).split(":")[:7])


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def work_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        if not isinstance(event, dict):
            raise BadMessage("the event is not a JSON object")
        unit = Unit.from_body(json.dumps(event))
    except BadMessage as error:
        logger.error("sweep event dropped", extra={"reason": str(error)})
        return {"dropped": str(error)}  # it would fail the same way every time: never retried
    logger.append_keys(account=unit.target.account, region=unit.target.region, part=unit.part)

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000.0

    # An exception propagates: Lambda retries the event, then sends it to the on-failure destination.
    result = wiring.sweeper().worker().run(unit, remaining=remaining)
    if result.continuation is not None:
        if result.pushed_back:
            pause = min(PUSHBACK_PAUSE_SECONDS, remaining() - RESERVE_SECONDS)
            if pause > 0:
                _sleep(pause)
        invoke_units(wiring.sweep_clients().lambda_(), own_function_arn(context), [result.continuation])
    logger.info(
        "sweep unit part done",
        extra={"done": result.done, "error": result.error, **result.totals.as_dict()},
    )
    return {"done": result.done, "continued": result.continuation is not None}
