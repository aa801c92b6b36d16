"""Indexer Lambda: DynamoDB stream batches in, index entries and summary counters out.

Placeholder while the write path moves to the stream (issue: fleet scale); the real body lands next.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Partial batch response: the records to retry (none yet)."""
    return {"batchItemFailures": []}
