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


# Every item carries the format it was written in (``Attr.FORMAT``): a reader meeting another number
# knows the item predates or postdates it (docs/decisions.md "Stored format").
FORMAT_VERSION: Final = 2


class Attr:
    """Stored attribute names, named once (the store is the only code that reads or writes them)."""

    FORMAT: Final = "fmt"
    BODY: Final = "body"  # task record: zlib-compressed {"doc": <task as the API shows it>, "hist": [...]}
    # The readable spelling of the body (``taskbeacon export inflate`` writes them for Athena).
    DOC: Final = "doc"
    REVISION: Final = "rev"
    SNAPSHOT_KEY: Final = "snapKey"
    EVENT_VERSION: Final = "evtVer"
    HISTORY: Final = "hist"  # readable spelling of the body's history (export inflate)
    EXPIRES: Final = TTL_ATTRIBUTE
    REINDEX: Final = "reindex"  # task record: moved by `taskbeacon reindex` (core.model.TaskRecord)
    LEASE: Final = "lease"  # task record: when its index entries expire unless renewed (epoch s)
    CONTENT_HASH: Final = "hash"  # keepalive item: content of the newest snapshot
    SEEN_AT: Final = "seenAt"
    REF: Final = "ref"  # index entry: the task identity it points at
    PROJECTION: Final = "p"  # index entry: list fields, so filters need no extra read
    HELD_FROM: Final = "heldFrom"
    HELD_UNTIL: Final = "heldUntil"
