"""The digest registry: one item per image digest the organization has ever run (``Image Digest
First Seen``, core/logic/change_events.py), and the marks of change events already published.

| item            | pk                   | sk          | carries |
|-----------------|----------------------|-------------|---------|
| digest registry | ``DIGEST#<digest>``  | ``DIGEST``  | ``identity`` of its first task, ``at`` |
| published mark  | ``EVTOUT#<eventId>`` | ``EVTOUT``  | ``expiresAt``: 2 days (stream records live 24 h) |

Neither sort key is ``TASK``, so the stream filter drops their writes before the indexer (no charge).

Claiming a digest: a BatchGetItem (eventually consistent, 0.5 read units a digest) skips digests
already registered (nearly every launch runs a known digest, so this costs no write); a digest not
found is put with ``attribute_not_exists(pk)`` (1 write unit, once per digest in the organization).
A put that loses the race returns the item it lost to (``ReturnValuesOnConditionCheckFailure``): the
claim is the task's if the registered identity is its own (an earlier attempt of this batch wrote it
and then failed before publishing), so the event is not lost to a retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from core.store import dynamo
from core.store.schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

DIGEST_PREFIX: Final = "DIGEST#"
DIGEST_SK: Final = "DIGEST"
PUBLISHED_PREFIX: Final = "EVTOUT#"
PUBLISHED_SK: Final = "EVTOUT"
IDENTITY: Final = "identity"
AT: Final = "at"
# A mark outlives every retry of the stream record that made the event (records live 24 h).
PUBLISHED_TTL_SECONDS: Final = 2 * 86_400
_BATCH_GET: Final = 100
_BATCH_WRITE: Final = 25
_ATTEMPTS: Final = 6


def digest_key(digest: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": DIGEST_PREFIX + digest}, SORT_KEY: {"S": DIGEST_SK}}


def published_key(event_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": PUBLISHED_PREFIX + event_id}, SORT_KEY: {"S": PUBLISHED_SK}}


class ChangeEventStore(dynamo.TableAccess):
    def __init__(self, table_name: str, *, client: Any | None = None, clock: Any = time.time):
        super().__init__(table_name, client)
        self._clock = clock

    def claim(self, claims: dict[str, str]) -> set[str]:
        """The digests (of ``{digest: identity}``) that are the claiming task's: first registered
        by it now, or earlier by it. Pushback raises ``Throttled`` (the batch is retried)."""
        if not claims:
            return set()
        found = {
            item[PARTITION_KEY]["S"].removeprefix(DIGEST_PREFIX): item.get(IDENTITY, {}).get("S", "")
            for item in self._get([digest_key(digest) for digest in claims], consistent=False)
        }
        mine = {digest for digest, owner in found.items() if claims.get(digest) == owner}
        for digest, identity in claims.items():
            if digest in found:
                continue
            if self._put_first(digest, identity):
                mine.add(digest)
        return mine

    def _put_first(self, digest: str, identity: str) -> bool:
        from botocore.exceptions import ClientError

        item = {
            **digest_key(digest),
            IDENTITY: {"S": identity},
            AT: {"N": str(int(self._clock()))},
        }
        try:
            with dynamo.translated_errors():
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": PARTITION_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            owner = (error.response.get("Item") or {}).get(IDENTITY, {}).get("S")
            return owner == identity
        return True

    def already_published(self, event_ids: Iterable[str]) -> set[str]:
        """The ids of events a mark says were published (consistent reads: a retry right after)."""
        items = self._get([published_key(event_id) for event_id in dict.fromkeys(event_ids)], consistent=True)
        return {item[PARTITION_KEY]["S"].removeprefix(PUBLISHED_PREFIX) for item in items}

    def mark_published(self, event_ids: Iterable[str]) -> set[str]:
        """Mark events published; the ids whose mark did not land (their events may go out again)."""
        expires = str(int(self._clock()) + PUBLISHED_TTL_SECONDS)
        requests = [
            {"PutRequest": {"Item": {**published_key(event_id), TTL_ATTRIBUTE: {"N": expires}}}}
            for event_id in dict.fromkeys(event_ids)
        ]
        failed: set[str] = set()
        for start in range(0, len(requests), _BATCH_WRITE):
            pending = requests[start : start + _BATCH_WRITE]
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                _backoff(attempt)
                with dynamo.translated_errors():
                    response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            failed |= {
                request["PutRequest"]["Item"][PARTITION_KEY]["S"].removeprefix(PUBLISHED_PREFIX)
                for request in pending
            }
        return failed

    def _get(self, wanted: list[Any], *, consistent: bool) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _BATCH_GET):
            pending: list[Any] = wanted[start : start + _BATCH_GET]
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                _backoff(attempt)
                with dynamo.translated_errors():
                    response = self.client.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": consistent}}
                    )
                found += response.get("Responses", {}).get(self.table_name, [])
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if pending:
                raise dynamo.pushed_back()
        return found


def _backoff(attempt: int) -> None:
    if attempt:
        time.sleep(min(0.05 * 2**attempt, 1.0))
