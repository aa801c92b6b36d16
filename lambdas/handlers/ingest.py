"""Ingest Lambda: POST /snapshots. Parse, call core logic, shape the response."""
# No `from __future__ import annotations` here: Powertools reads the route annotations at runtime.

import binascii
import os
from base64 import b64decode
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.crosscheck import account_of_function
from core.errors import InvalidInput
from core.identity import caller_from_identity
from core.jsonbody import parse_json_body
from core.logic.ingest import describe_body, ingest_snapshot, stop_report
from core.observability import logger, metrics, tracer
from core.settings import get_settings
from handlers import http_errors, wiring

app = APIGatewayRestResolver(enable_validation=True)
http_errors.register(app)


@app.post(
    "/snapshots",
    summary="Report a task's own metadata",
    description="Body: the snapshot envelope (schemaVersion, source, collectedAt, sequence, reason, agent,"
    " task|tasks, container, stats). 202 with the stored task ids.",
    tags=["ingest"],
)
@tracer.capture_method(capture_response=False)
def post_snapshot() -> Response[Any]:
    settings = get_settings()
    body = parse_json_body(_raw_body(), max_bytes=settings.max_body_bytes)
    event = app.current_event
    caller = caller_from_identity(event.raw_event.get("requestContext", {}).get("identity"))
    logger.append_keys(caller=caller.arn)
    # One line per report, and none at INFO for a keepalive that changed nothing: log lines are
    # billed per byte and keepalives are most of a running task's reports (docs/cost.md).
    logger.debug("snapshot received", extra={"body": describe_body(body)})
    own_account = account_of_function(app.lambda_context.invoked_function_arn)
    verifier = wiring.verifier(own_account)
    result = ingest_snapshot(body, caller, wiring.recorder(), settings, verifier)
    # A log line, not custom metrics: each metric name costs $0.30 a month (core/observability.py).
    changed = [o.task_id for o in result.outcomes if o.changed]
    written = sum(o.write_items for o in result.outcomes)
    log = logger.info if any("record" in o.kind for o in result.outcomes) else logger.debug
    log(
        "snapshot accepted",
        extra={"normalize_ms": result.normalize_ms, "write_items": written, "tasks": len(result.task_ids)},
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={
            "taskIds": result.task_ids,
            "changed": changed,
            "stopReport": stop_report(
                [o.identity for o in result.outcomes],
                own_account,
                os.environ.get("AWS_REGION", ""),
                events_from_organization=settings.events_from_organization,
            ),
        },
    )


def _raw_body() -> str | bytes | None:
    """The body as sent: bytes when API Gateway base64-encoded it (not UTF-8), so that
    ``parse_json_body`` can say where the bad byte sits rather than fail decoding it here."""
    event = app.current_event
    if not event.is_base64_encoded or event.body is None:
        return event.body
    try:
        return b64decode(event.body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("request body is not valid base64", field="body") from None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
