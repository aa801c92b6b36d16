"""A Lambda event source mapping for a DynamoDB stream shard, as AWS documents it, for tests.

What it copies (AWS Lambda Developer Guide: "Configuring partial batch response with DynamoDB and
Lambda", and the DynamoDB event source mapping parameters):

- batches of at most ``batch_size`` records, in shard order; a batch is done before the next starts;
- a function **error** with BisectBatchOnFunctionError: the batch is split in two and each half is
  retried (the first half, with its own retries and splits, before the second); a batch of one
  record is retried as it is;
- a **partial batch response**: "the batch is bisected at the returned sequence number and Lambda
  retries only the remaining records" (the lowest identifier when several are given; an empty or
  unknown identifier fails the whole batch);
- bounded retries (``retry_attempts``): a batch that has used them up goes to the on-failure
  destination as Lambda sends it there, ``DDBStreamBatchInfo`` (shard, first and last sequence
  number, batch size) and nothing about the tasks; the shard moves on.

The guide does not say whether a split uses up a retry attempt: ``splits_count_as_retries`` plays
either reading (the halves inherit their parent's attempts, plus one when splits count).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class EventSourceMapping:
    handler: Handler
    batch_size: int = 500
    retry_attempts: int = 10
    bisect_on_error: bool = True
    splits_count_as_retries: bool = False
    stream_arn: str = "arn:aws:dynamodb:us-east-1:111122223333:table/tasks/stream/2026-11-28T00:00:00.000"
    shard_id: str = "shardId-00000001700000000000-00000001"
    on_failure: list[dict[str, Any]] = field(default_factory=list)
    invocations: int = 0
    function_errors: int = 0
    largest_attempt: int = 0

    def deliver(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), self.batch_size):
            self._batch(records[start : start + self.batch_size])

    def _batch(self, batch: list[dict[str, Any]]) -> None:
        work: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while work:
            records, attempts = work.popleft()
            self.largest_attempt = max(self.largest_attempt, attempts)
            outcome = self._invoke(records)
            if outcome is None:
                continue  # checkpointed past the batch
            failed_at, function_error = outcome
            remaining = records[failed_at:]
            if function_error and self.bisect_on_error and len(remaining) > 1:
                inherited = attempts + 1 if self.splits_count_as_retries else attempts
                if inherited > self.retry_attempts:
                    self._give_up(remaining, attempts)
                    continue
                half = len(remaining) // 2
                work.appendleft((remaining[half:], inherited))
                work.appendleft((remaining[:half], inherited))
                continue
            if attempts >= self.retry_attempts:
                self._give_up(remaining, attempts)
                continue
            work.appendleft((remaining, attempts + 1))

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[int, bool] | None:
        """None on success, else (index of the first record to retry, whether the function raised)."""
        self.invocations += 1
        try:
            answer = self.handler({"Records": list(records)}, None)
        except Exception:
            self.function_errors += 1
            return 0, True
        failures = (answer or {}).get("batchItemFailures") if isinstance(answer, dict) else None
        if not failures:
            return None
        positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(records)}
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in positions:
                return 0, False  # an empty or unknown identifier: the whole batch failed
            indexes.append(positions[identifier])
        return min(indexes), False

    def _give_up(self, records: list[dict[str, Any]], attempts: int) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        self.on_failure.append(
            {
                "requestContext": {
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": attempts + 1,
                },
                "version": "1.0",
                "DDBStreamBatchInfo": {
                    "shardId": self.shard_id,
                    "startSequenceNumber": first["SequenceNumber"],
                    "endSequenceNumber": last["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                    "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                    "batchSize": len(records),
                    "streamArn": self.stream_arn,
                },
            }
        )
