"""Builds the committed OpenAPI document of the whole API (ingest + query routes): the contract.

``build_document`` generates it: paths and parameters from the handlers' routes (Powertools), the
answers from the typed models of ``core.model.responses`` (every success and every error status a
route can send, all errors with the one ``Error`` schema), the snapshot envelope as the request
body of ``POST /snapshots``, and the SigV4 security scheme. ``main`` writes it to
lambdas/core/openapi.json, which the query Lambda serves as is (``core.openapi.load_document``).

A build tool, so it lives outside the Lambda asset (lambdas/): it imports the handlers, and no
runtime module imports it. A test fails when the committed copy is stale: regenerate with
``make openapi`` (``PYTHONPATH=lambdas python -m tools.openapi``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from core.model import responses
from core.model.envelope import Envelope
from core.openapi import DOCUMENT_PATH
from handlers import ingest, query

TITLE = "taskbeacon"
VERSION = "1.0.0"
REF = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: error.field names the query parameter, or the place in the body"
    " (task.Containers[2].Name); an unknown query parameter is refused too",
    403: "Not allowed: unsigned or badly signed request (API Gateway), or a caller that may not do this",
    404: "No such task (unknown, or expired after the retention period)",
    409: "The bare task id names more than one task: error.candidates lists their task ARNs",
    413: "Body over the size limit",
    429: "Throttled (API Gateway or DynamoDB): retry after Retry-After seconds",
    503: "The store is unavailable: retry after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_READ_ERRORS = (400, 403, 429, 503)
_ONE_TASK_ERRORS = (400, 403, 404, 409, 429, 503)


def _answers() -> dict[tuple[str, str], tuple[int, str, str, tuple[int, ...]]]:
    """(method, path) -> (success status, its model's name, its description, error statuses)."""
    return {
        ("post", "/snapshots"): (
            202,
            "Accepted",
            "Stored: every task id in the report, and those whose record changed",
            (400, 403, 413, 429, 503),
        ),
        ("get", "/tasks"): (200, "TaskPage", "A page of tasks, newest first", _READ_ERRORS),
        ("get", "/tasks/{taskId}"): (200, "TaskDocument", "The task with its containers", _ONE_TASK_ERRORS),
        ("get", "/tasks/{taskId}/history"): (
            200,
            "HistoryPage",
            "A page of the task's changes, newest first",
            _ONE_TASK_ERRORS,
        ),
        ("get", "/search"): (200, "SearchPage", "A page of matching tasks", _READ_ERRORS),
        ("get", "/summary"): (200, "Summary", "Running tasks per group", _READ_ERRORS),
        ("get", "/coverage"): (
            200,
            "Coverage",
            "Per account and region: tasks by source, sweeps, events",
            _READ_ERRORS,
        ),
        ("get", "/openapi.json"): (200, "OpenApiDocument", "This document", (400, 403, 429)),
    }


def _schemas() -> dict[str, Any]:
    models: list[Any] = [
        (getattr(responses, name), "serialization")
        for name in (
            "Accepted",
            "TaskPage",
            "TaskDocument",
            "HistoryPage",
            "SearchPage",
            "Summary",
            "Coverage",
        )
    ]
    models += [(responses.OpenApiDocument, "serialization"), (responses.Error, "serialization")]
    models.append((Envelope, "validation"))
    _, top = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def _responses(ok: int, model: str, description: str, errors: tuple[int, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {
        str(ok): {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        }
    }
    for status in sorted(errors):
        answers[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
    return answers


def build_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        query.app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description="Searchable inventory of Amazon ECS tasks. Every route needs SigV4 (IAM) signing."
            ' Errors are {"error": {"code", "message", "field"}} (docs/errors.md).',
        )
    )
    ingest_document = json.loads(ingest.app.get_openapi_json_schema(title=TITLE, version=VERSION))
    document["paths"].update(ingest_document["paths"])
    answers = _answers()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            # Powertools' own 200/422 are replaced: 422 is never sent (validation answers 400).
            operation["responses"] = _responses(*answers[(method, path)])
    document["paths"]["/snapshots"]["post"]["requestBody"] = {
        "required": True,
        "description": "The snapshot envelope (DESIGN 3.2): raw metadata documents plus a small envelope",
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Envelope")}}},
    }
    document["components"] = {
        "schemas": _schemas(),
        "securitySchemes": {
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "AWS Signature Version 4 (service execute-api) with IAM credentials",
                "x-amazon-apigateway-authtype": "awsSigv4",
            }
        },
    }
    document["security"] = [{"sigv4": []}]
    return document


def main() -> None:
    DOCUMENT_PATH.write_text(json.dumps(build_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
