"""The committed OpenAPI document is what the routes generate (regenerate with `make openapi`)."""

from __future__ import annotations

import json

from core.openapi import DOCUMENT_PATH
from tools.openapi import build_document


def test_committed_openapi_document_is_current() -> None:
    committed = json.loads(DOCUMENT_PATH.read_text())
    assert committed == json.loads(json.dumps(build_document())), "docs are stale: run `make openapi`"


def test_every_route_is_documented_with_its_parameters() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/snapshots",
        "/tasks",
        "/tasks/{taskId}",
        "/tasks/{taskId}/history",
        "/search",
        "/summary",
        "/coverage",
        "/openapi.json",
    }
    list_parameters = {p["name"] for p in document["paths"]["/tasks"]["get"]["parameters"]}
    assert {
        "cluster",
        "service",
        "family",
        "status",
        "launchType",
        "availabilityZone",
        "accountId",
        "region",
        "since",
        "limit",
        "cursor",
    } <= list_parameters
    search_parameters = {p["name"] for p in document["paths"]["/search"]["get"]["parameters"]}
    assert {
        "ip",
        "image",
        "imageDigest",
        "containerName",
        "label",
        "tag",
        "dockerId",
        "eni",
        "status",
        "at",
        "confirmed",
    } <= search_parameters


def test_answers_are_typed_and_every_error_uses_the_error_schema() -> None:
    document = build_document()
    text = json.dumps(document)
    assert '"422"' not in text and "HTTPValidationError" not in text
    schemas = document["components"]["schemas"]
    expected_errors = {
        ("post", "/snapshots"): {"400", "403", "413", "429", "503"},
        ("get", "/tasks/{taskId}"): {"400", "403", "404", "409", "429", "503"},
        ("get", "/tasks/{taskId}/history"): {"400", "403", "404", "409", "429", "503"},
        ("get", "/tasks"): {"400", "403", "429", "503"},
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            ok = [status for status in answers if status.startswith("2")]
            assert len(ok) == 1, (method, path)
            ok_ref = answers[ok[0]]["content"]["application/json"]["schema"]["$ref"]
            assert ok_ref.rsplit("/", 1)[-1] in schemas
            errors = {status for status in answers if not status.startswith("2")}
            assert "400" in errors and "403" in errors, (method, path)
            assert errors >= expected_errors.get((method, path), set()), (method, path, errors)
            for status in errors:
                schema = answers[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
                if status in ("429", "503"):
                    assert "Retry-After" in answers[status]["headers"]
    assert "candidates" in schemas["ErrorDetail"]["properties"]
    ip_hit = schemas["IpHit"]["properties"]
    assert {"task", "heldFrom", "heldUntil"} <= set(ip_hit)
    assert {"taskArn", "containers", "stale"} <= set(schemas["TaskDocument"]["properties"])


def test_snapshot_envelope_is_the_request_body_and_sigv4_the_scheme() -> None:
    document = build_document()
    body = document["paths"]["/snapshots"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Envelope"}
    envelope = document["components"]["schemas"]["Envelope"]
    assert {"schemaVersion", "source", "collectedAt", "sequence", "reason", "agent"} <= set(
        envelope["required"]
    )
    assert envelope["properties"]["sequence"]["maximum"] == 2**63 - 1
    scheme = document["components"]["securitySchemes"]["sigv4"]
    assert scheme["type"] == "apiKey" and scheme["in"] == "header" and scheme["name"] == "Authorization"
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert document["security"] == [{"sigv4": []}]
