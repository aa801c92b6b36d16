"""The committed OpenAPI document is what the routes generate (regenerate with `make openapi`)."""

from __future__ import annotations

import json

from core.openapi import DOCUMENT_PATH, build_document


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
    } <= search_parameters
