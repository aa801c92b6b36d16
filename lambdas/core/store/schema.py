"""The one definition of the inventory table, used by the CDK stack and by local mode.

Everything lives in a single table keyed by ``pk``/``sk``; the search and list indexes are
items in the same table (an inverted index), so the table needs no GSI. Which access pattern
uses which key is written down in docs/decisions.md ("Table and key design").
"""

from __future__ import annotations

from typing import Any, Final

PARTITION_KEY: Final = "pk"
SORT_KEY: Final = "sk"
TTL_ATTRIBUTE: Final = "expiresAt"
DEFAULT_TABLE_NAME: Final = "taskbeacon-tasks"
STREAM_VIEW_TYPE: Final = "NEW_AND_OLD_IMAGES"


def create_table_request(table_name: str = DEFAULT_TABLE_NAME) -> dict[str, Any]:
    """Arguments for ``CreateTable``: what local mode and tests create, mirroring the stack."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        # The indexer derives index entries and counters from each record's old and new image.
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    }


def time_to_live_request(table_name: str = DEFAULT_TABLE_NAME) -> dict[str, Any]:
    """Arguments for ``UpdateTimeToLive``: stopped tasks and their index items expire."""
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    }


class Attr:
    """Stored attribute names, named once (the store is the only code that reads or writes them)."""

    DOC: Final = "doc"  # the task as the API shows it, compact JSON
    REVISION: Final = "rev"
    SNAPSHOT_KEY: Final = "snapKey"
    EVENT_VERSION: Final = "evtVer"
    HISTORY: Final = "hist"
    EXPIRES: Final = TTL_ATTRIBUTE
    CONTENT_HASH: Final = "hash"  # keepalive item: content of the newest snapshot
    SEEN_AT: Final = "seenAt"
    ENTRIES: Final = "entries"  # indexer marker: entry reference -> digest
    SUMS: Final = "sums"  # indexer marker: counters the task adds one to
    REF: Final = "ref"  # index entry: the task identity it points at
    PROJECTION: Final = "p"  # index entry: list fields, so filters need no extra read
    HELD_FROM: Final = "heldFrom"
    HELD_UNTIL: Final = "heldUntil"
    RUNNING: Final = "running"  # summary counter
    UPDATES: Final = "v"  # summary counter: how many updates it took (reconciler sees movement)
