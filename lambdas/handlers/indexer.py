"""Indexer Lambda: DynamoDB stream batches in, index entries and summary counters out.

Answers with a partial batch response: Lambda resumes the shard at the first record that did not
land, and the records before it are not delivered again (ReportBatchItemFailures).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.observability import logger, metrics, tracer
from core.store.stream import decode
from handlers import wiring


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    changes, broken = decode(event)
    for record in broken:
        logger.error(
            "stream record not readable", extra={"sequence": record.sequence, "reason": record.reason}
        )
    result = wiring.indexer().apply(changes)
    failed = sorted([*result.failed_sequences, *(record.sequence for record in broken)], key=_order)[:1]
    # No custom metrics per batch: each costs $0.30 a month, and Lambda's own Errors and
    # IteratorAge (alarmed) plus the failure queue already say whether the index keeps up.
    if failed:
        logger.warning(
            "batch partly applied; resuming from a record",
            extra={"sequence": failed[0], "tasks": result.tasks, "entries": result.entries_written},
        )
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


def _order(sequence: str) -> tuple[int, str]:
    return (int(sequence), sequence) if sequence.isdigit() else (0, sequence)
