"""The DynamoDB client, created on first use (never at import), and the mapping of its errors."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from core.errors import Throttled, Unavailable

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
}
_UNAVAILABLE = {"InternalServerError", "ServiceUnavailable", "InternalFailure"}
# Why a transaction was cancelled, per item: these mean "pushed back", not "lost a race".
_THROTTLED_REASONS = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}


_BATCH_GET = 100  # BatchGetItem's limit per request
ATTEMPTS = 6  # requests per chunk while DynamoDB leaves items unprocessed

# What a caller catches to treat DynamoDB pushback (throttling, unavailability) as "not this time".
PUSHBACK = (Throttled,)


def pushed_back() -> Throttled:
    return Throttled("the inventory is busy; retry later", retry_after=1)


@lru_cache(maxsize=1)
def client() -> Any:
    """One client per process; honours AWS_ENDPOINT_URL_DYNAMODB (local mode) like any boto3 client."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", config=Config(retries={"max_attempts": 3, "mode": "standard"}))


class TableAccess:
    """What every store of the table holds: its name, and a client made on first use (or given)."""

    def __init__(self, table_name: str, client: Any | None = None, *, sleep: Any = time.sleep):
        self.table_name = table_name
        self._client = client
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client()
        return self._client

    def consistent_get(self, wanted: list[Any]) -> list[Any]:
        """Items by key, consistently, in chunks; unprocessed keys are retried, then pushed back."""
        found: list[Any] = []
        for start in range(0, len(wanted), _BATCH_GET):
            pending: list[Any] = wanted[start : start + _BATCH_GET]
            for attempt in range(ATTEMPTS):
                if not pending:
                    break
                self.backoff(attempt)
                with translated_errors():
                    response = self.client.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
                    )
                found += response.get("Responses", {}).get(self.table_name, [])
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if pending:
                raise pushed_back()
        return found

    def backoff(self, attempt: int) -> None:
        if attempt:
            self._sleep(min(0.05 * 2**attempt, 1.0) * random.random())  # noqa: S311 - jitter, not crypto


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn DynamoDB pushback into domain errors the API maps to 429/503 with Retry-After."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING:
            raise Throttled("the inventory is busy; retry later", retry_after=1) from error
        if code == "TransactionCanceledException" and _cancelled_by_pushback(error.response):
            raise Throttled("the inventory is busy; retry later", retry_after=1) from error
        if code in _UNAVAILABLE:
            raise Unavailable("the inventory store is unavailable; retry later", retry_after=2) from error
        raise
    except (ConnectionError, ReadTimeoutError) as error:
        raise Unavailable("the inventory store did not answer; retry later", retry_after=2) from error


def _cancelled_by_pushback(response: dict[str, Any]) -> bool:
    reasons = response.get("CancellationReasons") or []
    return any((reason or {}).get("Code") in _THROTTLED_REASONS for reason in reasons)
