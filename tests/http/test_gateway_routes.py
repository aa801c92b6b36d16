"""The gateway routes exactly the API's one route vocabulary (``core.vocabulary.ROUTES``), as the
deployed REST API does: a method and path outside it is 403 "Missing Authentication Token" before
any signature is looked at; one inside it gets its signature checked."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.vocabulary import ROUTES, Route
from taskbeacon.local.gateway import match_route
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send

pytestmark = pytest.mark.http
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def concrete(template: str, task_id: str = "0123456789abcdef0123456789abcdef") -> str:
    return template.replace("{taskId}", task_id)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_vocabulary_route_is_matched_to_its_function(route: Route) -> None:
    assert match_route(route.method, concrete(route.path)) == (
        route.path,
        {"taskId": "0123456789abcdef0123456789abcdef"} if "{taskId}" in route.path else {},
        route.function,
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_vocabulary_routes_check_the_signature(
    local: LocalSystem, operator: dict[str, str], route: Route
) -> None:
    body = b"{}" if route.method == "POST" else None
    reply = send(local.url, route.method, concrete(route.path), credentials=operator, body=body, tamper=True)
    assert reply.status == 403 and reply.body["error"]["code"] == "INVALID_SIGNATURE", reply.body


segment = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)


@FUZZ
@given(method=st.sampled_from(METHODS), parts=st.lists(segment, min_size=0, max_size=4))
def test_anything_outside_the_vocabulary_is_missing_authentication_token(
    local: LocalSystem, operator: dict[str, str], method: str, parts: list[str]
) -> None:
    path = "/" + "/".join(parts)
    if match_route(method, path) is not None or path in ("/_local/credentials", "/_local/events"):
        return  # inside the vocabulary: covered above
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    reply = send(local.url, method, path, credentials=operator, body=body, tamper=True)
    assert reply.status == 403 and reply.body["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN", (
        method,
        path,
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_other_methods_on_vocabulary_paths_are_missing_authentication_token(
    local: LocalSystem, operator: dict[str, str], route: Route
) -> None:
    for method in METHODS:
        if method == route.method:
            continue
        reply = send(local.url, method, concrete(route.path), credentials=operator, body=b"{}", tamper=True)
        assert reply.body["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN", (method, route)


def test_the_routes_are_read_from_the_vocabulary_not_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import vocabulary
    from taskbeacon.local import gateway

    probe = Route("GET", "/probe/{taskId}", "query")
    monkeypatch.setattr(vocabulary, "ROUTES", (*vocabulary.ROUTES, probe))
    gateway._compiled_routes.cache_clear()
    try:
        assert match_route("GET", "/probe/abc") == ("/probe/{taskId}", {"taskId": "abc"}, "query")
    finally:
        monkeypatch.undo()
        gateway._compiled_routes.cache_clear()
    assert match_route("GET", "/probe/abc") is None
