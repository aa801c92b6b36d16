"""The committed OpenAPI document of the whole API (ingest + query routes).

``build_document`` generates it from the handlers' routes; ``load_document`` serves the committed
copy (lambdas/core/openapi.json) so the query Lambda does no schema work per request. A test fails
when the committed copy is stale: regenerate with ``make openapi``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
TITLE = "taskbeacon"
VERSION = "1.0.0"


def build_document() -> dict[str, Any]:
    from handlers import ingest, query

    document: dict[str, Any] = json.loads(
        query.app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description="Searchable inventory of Amazon ECS tasks. Every route needs SigV4 (IAM) signing.",
        )
    )
    ingest_document = json.loads(ingest.app.get_openapi_json_schema(title=TITLE, version=VERSION))
    document["paths"].update(ingest_document["paths"])
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(ingest_document.get("components", {}).get("schemas", {}))
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
                "required": ["code", "message"],
            }
        },
    }
    document.setdefault("components", {})["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    document["security"] = [{"sigv4": []}]
    return document


@lru_cache(maxsize=1)
def load_document() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
    return result


def main() -> None:
    DOCUMENT_PATH.write_text(json.dumps(build_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
