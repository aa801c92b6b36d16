"""The indexer's writes: index entries, put and deleted in batches (BatchWriteItem), idempotently,
so a replay or a retry after a partial failure converges (see core/logic/indexer.py).

``request_reindex`` is the one write outside the indexer's own items: ``taskbeacon reindex`` moves a
task record's revision on (content untouched), so the stream delivers the record to the indexer again
and the indexer, the only writer of derived state, derives it anew (core/logic/reindex.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from core.model import IndexItem, TaskRecord
from core.store import dynamo, keys
from core.store.records import Item, index_entry_from_item, index_item, key_of_reference, record_from_item
from core.store.schema import PARTITION_KEY, SORT_KEY, Attr

_BATCH_WRITE = 25  # BatchWriteItem's limit per request
_BATCH_GET = 100  # BatchGetItem's limit per request
_ATTEMPTS = 6  # requests per chunk while DynamoDB leaves items unprocessed


class IndexStore(dynamo.TableAccess):
    def __init__(self, table_name: str, *, client: Any | None = None, sleep: Any = time.sleep):
        super().__init__(table_name, client)
        self._sleep = sleep

    def stored_digests(self, refs: Iterable[str]) -> dict[str, str]:
        """The content digest of each entry that exists, by reference (consistent reads)."""
        entries = (
            index_entry_from_item(item)
            for item in self._get([key_of_reference(ref) for ref in dict.fromkeys(refs)])
        )
        return {entry.ref: entry.digest for entry in entries}

    def _get(self, wanted: list[Any]) -> list[Item]:
        """Items by key, consistently, in chunks; unprocessed keys are retried, then pushed back."""
        found: list[Item] = []
        for start in range(0, len(wanted), _BATCH_GET):
            pending: list[Any] = wanted[start : start + _BATCH_GET]
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                self._backoff(attempt)
                with dynamo.translated_errors():
                    response = self.client.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
                    )
                found += response.get("Responses", {}).get(self.table_name, [])
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if pending:
                raise dynamo.pushed_back()
        return found

    def current_records(self, identities: list[str]) -> dict[str, TaskRecord | Exception]:
        """Each task's record as it is now (consistent reads); a record that cannot be decoded is
        its error. A task with no record is absent."""
        found: dict[str, TaskRecord | Exception] = {}
        for item in self._get([keys.record_key(identity) for identity in dict.fromkeys(identities)]):
            identity = keys.identity_of_partition(item[PARTITION_KEY]["S"])
            try:
                found[identity] = record_from_item(item)
            except (KeyError, ValueError, TypeError) as error:
                found[identity] = error
        return found

    def write_entries(self, puts: list[IndexItem], deletes: list[str]) -> set[str]:
        """Put entries and delete entries by reference; the references that did not land."""
        return self._write([index_item(entry) for entry in puts], [key_of_reference(ref) for ref in deletes])

    def _write(self, puts: list[Item], deletes: list[dict[str, Any]]) -> set[str]:
        """Put and delete items in batches; the references ("pk<TAB>sk") that did not land."""
        requests = [{"PutRequest": {"Item": item}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key}} for key in deletes]
        failed: set[str] = set()
        for start in range(0, len(requests), _BATCH_WRITE):
            pending = requests[start : start + _BATCH_WRITE]
            for attempt in range(_ATTEMPTS):
                if not pending:
                    break
                self._backoff(attempt)
                try:
                    with dynamo.translated_errors():
                        response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except dynamo.PUSHBACK:
                    continue
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            failed |= {_reference(request) for request in pending}
        return failed

    def request_reindex(self, identity: str, read_revision: int, mark: int) -> bool:
        """Move the record's revision on and its reindex mark to ``mark`` (content untouched), so the
        indexer puts every entry it wants again; False if the record changed (or went) since it was
        read at ``read_revision``: that change reaches the indexer by itself."""
        from botocore.exceptions import ClientError

        try:
            with dynamo.translated_errors():
                self.client.update_item(
                    TableName=self.table_name,
                    Key=keys.record_key(identity),
                    UpdateExpression="SET #rev = :new, #mark = :mark",
                    ConditionExpression="#rev = :read",
                    ExpressionAttributeNames={"#rev": Attr.REVISION, "#mark": Attr.REINDEX},
                    ExpressionAttributeValues={
                        ":read": {"N": str(read_revision)},
                        ":new": {"N": str(read_revision + 1)},
                        ":mark": {"N": str(mark)},
                    },
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _backoff(self, attempt: int) -> None:
        if attempt:
            self._sleep(min(0.05 * 2**attempt, 1.0) * random.random())  # noqa: S311 - jitter, not crypto


def _reference(request: dict[str, Any]) -> str:
    item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
    return f"{item[PARTITION_KEY]['S']}\t{item[SORT_KEY]['S']}"
