"""The committed OpenAPI document (lambdas/core/openapi.json), as the query Lambda serves it.

Generated at build time by ``tools/openapi.py`` (``make openapi``), which is not part of the Lambda
asset: the runtime only reads the file, so it does no schema work per request and never imports the
builder (the builder imports the handlers).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@lru_cache(maxsize=1)
def load_document() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
    return result
