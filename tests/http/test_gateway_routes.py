"""The gateway routes exactly the API's one route vocabulary (``core.vocabulary.ROUTES``), as the
deployed REST API does: a method and path outside it is 403 "Missing Authentication Token" before
any signature is looked at; one inside it gets its signature checked. Every method token counts,
TRACE, CONNECT or FOO as much as GET (``http.server`` alone would answer 501 where it has no
``do_<METHOD>``)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.vocabulary import ROUTES, Route
from taskbeacon.local.aws.gateway import LOCAL_ROUTES, match_route
from taskbeacon.local.system import LocalSystem
from tests.http.localapi import send
from tests.hypothesis_profiles import examples, suppressed

pytestmark = pytest.mark.http
FUZZ = settings(
    max_examples=examples(40), suppress_health_check=suppressed(HealthCheck.function_scoped_fixture)
)
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
    if match_route(method, path) is not None or path in {p for _, p in LOCAL_ROUTES}:
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
    from taskbeacon.local.aws import gateway

    probe = Route("GET", "/probe/{taskId}", "query")
    monkeypatch.setattr(vocabulary, "ROUTES", (*vocabulary.ROUTES, probe))
    gateway._compiled_routes.cache_clear()
    try:
        assert match_route("GET", "/probe/abc") == ("/probe/{taskId}", {"taskId": "abc"}, "query")
    finally:
        monkeypatch.undo()
        gateway._compiled_routes.cache_clear()
    assert match_route("GET", "/probe/abc") is None


# -- every method, not only those http.server has a do_<METHOD> for --------------------------------
# A REST API answers a method no route defines as it answers an unknown path (it has no 405 or 501):
# 403 MISSING_AUTHENTICATION_TOKEN, before and whatever the signature.
OTHER_METHODS = (
    "TRACE", "CONNECT", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "POST", "GET",
    "FOO", "get", "Post", "M-SEARCH", "PROPFIND", "BREW", "X!#$%&'*+.^_`|~",
)  # fmt: skip
PATHS = (
    *(concrete(route.path) for route in ROUTES),
    "/",
    "/nope",
    "/tasks/x/y",
    *sorted(path for _, path in LOCAL_ROUTES),
)
MISSING = {
    "error": {
        "code": "MISSING_AUTHENTICATION_TOKEN",
        "message": "Missing Authentication Token",
        "field": None,
    }
}
method_token = st.from_regex(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}", fullmatch=True)  # RFC 9110 5.6.2


def routed(method: str, path: str) -> bool:
    return match_route(method, path) is not None or (method, path) in LOCAL_ROUTES


def ask(
    connection: http.client.HTTPConnection,
    local: LocalSystem,
    operator: dict[str, str],
    method: str,
    path: str,
    signing: str,
) -> tuple[int, Any]:
    """``method path`` on ``connection`` (kept alive between calls), signed correctly ("valid"),
    with a wrong signature ("tampered") or not at all ("unsigned")."""
    netloc = urlsplit(local.url).netloc
    request = AWSRequest(method=method, url=local.url + path, data=b"", headers={"Host": netloc})
    if signing != "unsigned":
        credentials = Credentials(operator["AccessKeyId"], operator["SecretAccessKey"])
        SigV4Auth(credentials, "execute-api", local.gateway.region).add_auth(request)
    headers = dict(request.headers.items())
    if signing == "tampered":
        headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    connection.request(method, path, headers=headers)
    response = connection.getresponse()  # raises (failing the test) on a dropped connection
    data = response.read()
    assert not response.will_close, (method, path)  # an answer like any other: the connection stays
    return response.status, json.loads(data) if data else None


@pytest.fixture
def connection(local: LocalSystem) -> Iterator[http.client.HTTPConnection]:
    address = urlsplit(local.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    yield connection
    connection.close()


@pytest.mark.parametrize("method", OTHER_METHODS)
def test_every_method_no_route_defines_is_missing_authentication_token(
    local: LocalSystem, operator: dict[str, str], connection: http.client.HTTPConnection, method: str
) -> None:
    asked = 0
    for path in PATHS:
        if routed(method, path):
            continue
        for signing in ("valid", "tampered", "unsigned"):
            status, body = ask(connection, local, operator, method, path, signing)
            assert status == 403, (method, path, signing, body)
            assert body == (None if method == "HEAD" else MISSING), (method, path, signing)
            asked += 1
    assert asked >= 3


@FUZZ
@given(
    method=st.one_of(st.sampled_from(OTHER_METHODS), method_token),
    path=st.sampled_from(PATHS),
    signing=st.sampled_from(["valid", "tampered", "unsigned"]),
)
def test_any_method_token_outside_the_vocabulary_is_missing_authentication_token(
    local: LocalSystem, operator: dict[str, str], method: str, path: str, signing: str
) -> None:
    assume(not routed(method, path))
    address = urlsplit(local.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        status, body = ask(connection, local, operator, method, path, signing)
    finally:
        connection.close()
    assert status == 403 and body == (None if method == "HEAD" else MISSING), (method, path, body)


def test_the_control_routed_method_is_served(
    local: LocalSystem, operator: dict[str, str], connection: http.client.HTTPConnection
) -> None:
    # Without this, the 403s above could be every request's answer.
    status, body = ask(connection, local, operator, "GET", "/summary?by=cluster", "valid")
    assert status == 200 and "groups" in body, body
