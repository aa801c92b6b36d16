"""The DynamoDB client, created on first use (never at import), and the mapping of its errors."""

from __future__ import annotations

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

    def __init__(self, table_name: str, client: Any | None = None):
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client()
        return self._client


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
