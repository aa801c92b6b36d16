"""Indexer Lambda: DynamoDB stream batches in, index entries and summary counters out.

How a batch ends (the event source mapping has ReportBatchItemFailures and BisectBatchOnFunctionError,
infra/indexing.py). AWS Lambda Developer Guide, "Configuring partial batch response with DynamoDB and
Lambda" (services-ddb-batchfailurereporting): "If your invocation fails and BisectBatchOnFunctionError
is turned on, the batch is bisected regardless of your ReportBatchItemFailures setting. When a partial
batch success response is received and both BisectBatchOnFunctionError and ReportBatchItemFailures are
turned on, the batch is bisected at the returned sequence number and Lambda retries only the remaining
records." So a record reported as failed is retried *with every record after it*, and never alone:
reporting a record that fails every time sends up to 499 records behind it to the on-failure queue,
unindexed. Hence two kinds of failure:

- **transient** (DynamoDB pushed back part-way): answer ``batchItemFailures`` from the first
  unfinished record; the markers say what landed, so the retry applies only what is missing;
- **poison** (a record that cannot be decoded, whose planning raises, or, alone in its batch, whose
  writes DynamoDB refuses as invalid): the same record fails the same way every time. In a batch of
  more than one record, everything else is applied (idempotent: the markers make the retries of the
  halves no-ops) and the invocation raises, so Lambda splits the batch and retries each half, until
  the poison record is alone. Alone, it is *parked*: its task key goes to the indexer's failure queue
  (``taskbeacon reindex --failure-queue`` re-derives the task from its stored record, at any time)
  and the batch answers success. If parking fails, the record is reported failed: after the retries
  Lambda sends it, alone, to the same queue (shard and sequence number only).

The guide does not say whether a split consumes a retry attempt; infra/indexing.py keeps the retry
attempts above the number of splits that isolate one record of a full batch, so either way the
poison record is alone before the retries run out (tests/store/test_poison_isolation.py plays both).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from core.environment import FAILURE_QUEUE_ENV
from core.errors import Throttled
from core.logic.failures import parked_message
from core.observability import logger, metrics, tracer
from core.store import keys
from core.store.schema import PARTITION_KEY
from core.store.stream import Undecodable, decode
from handlers import wiring

if TYPE_CHECKING:
    from core.logic.indexer import BatchResult, Indexer
    from core.model import StreamChange


@dataclass(frozen=True)
class Poison:
    """A stream record the indexer can never take: undecodable, unplannable, or refused by DynamoDB."""

    sequence: str
    identity: str
    reason: str


class PoisonInBatch(RuntimeError):
    """Raised so Lambda splits the batch: one of its records can never be indexed."""


Parker = Callable[[Poison, str | None], bool]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return index_batch(event, wiring.indexer(), park)


def index_batch(event: dict[str, Any], indexer: Indexer, park: Parker) -> dict[str, Any]:
    """One invocation's work and answer (the handler's body, callable with any indexer and parker)."""
    records = event.get("Records") or []
    changes, broken = decode(event)
    poison = _unreadable(records, changes, broken)
    result: BatchResult | None = None
    try:
        result = indexer.apply(changes)
    except Throttled:
        raise  # pushback (or unavailability) before the batch settled: Lambda retries it
    except Exception as error:
        if len(records) != 1 or not _refused(error):
            raise
        # Alone in its batch, the record's own writes were refused (an item over DynamoDB's limits).
        poison.append(Poison(_sequence(records[0]), _identity(records[0]), _reason(error)))
    if result is not None:
        poison += [Poison(p.sequence, p.identity, p.reason) for p in result.poisoned]
    # No custom metrics per batch: each costs $0.30 a month, and Lambda's own Errors and
    # IteratorAge (alarmed) plus the failure queue already say whether the index keeps up.
    if poison:
        for record in poison:
            logger.error(
                "stream record cannot be indexed",
                extra={"taskKey": record.identity, "sequence": record.sequence, "reason": record.reason},
            )
        if len(records) > 1:
            sequences = ", ".join(record.sequence for record in poison)
            raise PoisonInBatch(
                f"{len(poison)} of {len(records)} records cannot be indexed ({sequences}); the rest is "
                "applied: splitting the batch to isolate them"
            )
        (only,) = poison
        if park(only, records[0].get("eventSourceARN") if records else None):
            logger.warning("poison record parked in the failure queue", extra={"taskKey": only.identity})
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": only.sequence}]}
    assert result is not None
    failed = sorted(result.failed_sequences, key=_order)[:1]
    if failed:
        logger.warning(
            "batch partly applied; resuming from a record",
            extra={"sequence": failed[0], "tasks": result.tasks, "entries": result.entries_written},
        )
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


def park(poison: Poison, source: str | None) -> bool:
    """Send the task key of an isolated poison record to the failure queue; False if that failed."""
    url = os.environ.get(FAILURE_QUEUE_ENV)
    if not url:
        return False
    try:
        _queue().send_message(
            QueueUrl=url, MessageBody=parked_message(poison.identity, poison.sequence, poison.reason, source)
        )
    except Exception:
        logger.exception("could not park a poison record", extra={"taskKey": poison.identity})
        return False
    return True


@lru_cache(maxsize=1)
def _queue() -> Any:
    """The SQS client, created on the first poison record only (never on the cold start path)."""
    import boto3

    return boto3.client("sqs")


def _unreadable(
    records: list[dict[str, Any]], changes: list[StreamChange], broken: list[Undecodable]
) -> list[Poison]:
    """Undecodable records, except one that a later readable change of the same task supersedes."""
    identity_of = {_sequence(record): _identity(record) for record in records}
    newest: dict[str, str] = {}
    for change in changes:
        newest[change.identity] = change.sequence
    poison: list[Poison] = []
    for record in broken:
        identity = identity_of.get(record.sequence, "")
        later = newest.get(identity)
        if later is not None and _order(later) > _order(record.sequence):
            continue  # the task's newer state is in this batch and is applied: nothing is lost
        poison.append(Poison(record.sequence, identity, record.reason))
    return poison


def _refused(error: Exception) -> bool:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "ValidationException"


def _sequence(record: dict[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber", ""))


def _identity(record: dict[str, Any]) -> str:
    key = (record.get("dynamodb") or {}).get("Keys") or {}
    return keys.identity_of_partition(str(key.get(PARTITION_KEY, {}).get("S", "")))


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _order(sequence: str) -> tuple[int, str]:
    return (int(sequence), sequence) if sequence.isdigit() else (0, sequence)
