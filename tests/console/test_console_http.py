"""The console's security rules and its proxy, over plain HTTP against local mode (no browser needed)."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

import pytest

from taskbeacon.console import server
from tests.console.conftest import Setup


def request(
    setup: Setup,
    method: str,
    path: str,
    *,
    cookie: bool = True,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    console = setup.console
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{console.port}")
        if cookie:
            conn.putheader("Cookie", f"{console.cookie_name}={console.session}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        try:
            parsed: Any = json.loads(data)
        except ValueError:
            parsed = data
        return response.status, found, parsed
    finally:
        conn.close()


def test_read_routes_are_the_vocabularys_query_routes_less_openapi() -> None:
    from core.vocabulary import QUERY_ROUTES

    expected = tuple(r.path for r in QUERY_ROUTES if r.method == "GET" and r.path != "/openapi.json")
    assert expected == server.READ_ROUTES


def test_error_bodies_are_the_apis() -> None:
    """The console's copy of the error body (an installed CLI has no lambdas/) is the server's."""
    from core.errors import error_body
    from taskbeacon.api.errors import error_body as console_error_body

    for args in (("forbidden", "no"), ("invalid_input", "bad", "limit")):
        assert console_error_body(*args) == error_body(*args)


def test_binds_to_loopback_only(setup: Setup) -> None:
    assert setup.console._httpd.server_address[0] == "127.0.0.1"
    assert setup.console.url.startswith(f"http://127.0.0.1:{setup.console.port}/?secret=")


def test_the_secret_becomes_an_httponly_strict_cookie(setup: Setup) -> None:
    status, headers, _ = request(setup, "GET", f"/?secret={setup.console.secret}", cookie=False)
    assert status == 303
    assert headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{setup.console.cookie_name}={setup.console.session};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert setup.console.secret not in cookie  # the cookie is its own value, not the printed secret


@pytest.mark.parametrize("path", ["/", "/app.js", "/app.css", "/api/tasks", "/api/summary?by=cluster"])
def test_no_cookie_is_403_everywhere(setup: Setup, path: str) -> None:
    status, _, body = request(setup, "GET", path, cookie=False)
    assert status == 403
    assert "printed" in body["error"]["message"]


def test_wrong_secret_and_wrong_cookie_are_403(setup: Setup) -> None:
    assert request(setup, "GET", "/?secret=guess", cookie=False)[0] == 403
    status, _, _ = request(
        setup, "GET", "/api/tasks", cookie=False, headers={"Cookie": f"{setup.console.cookie_name}=guess"}
    )
    assert status == 403


@pytest.mark.parametrize("host", ["localhost:{port}", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1", ""])
def test_wrong_host_is_403_even_with_the_cookie(setup: Setup, host: str) -> None:
    status, _, body = request(setup, "GET", "/api/tasks", host=host.format(port=setup.console.port))
    assert status == 403
    assert "Host" in body["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},  # another local port is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # 127.0.0.1 on another port is "same-site"
    ],
)
def test_cross_site_requests_are_403(setup: Setup, headers: dict[str, str]) -> None:
    status, _, body = request(setup, "GET", "/api/tasks", headers=headers)
    assert status == 403
    assert "cross-site" in body["error"]["message"]


def test_same_origin_and_typed_requests_pass(setup: Setup) -> None:
    origin = setup.console.origin
    assert request(setup, "GET", "/api/tasks?limit=1", headers={"Origin": origin})[0] == 200
    assert request(setup, "GET", "/", headers={"Sec-Fetch-Site": "none"})[0] == 200
    assert request(setup, "GET", "/", headers={"Sec-Fetch-Site": "same-origin"})[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_anything_but_get_is_405(setup: Setup, method: str) -> None:
    status, headers, _ = request(setup, method, "/api/tasks", body=b"{}")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/api/snapshots",
        "/api/openapi.json",
        "/api/_local/credentials",
        "/api/_local/events",
        "/api",
        "/api/",
        "/api/tasks/x/history/more",
        "/api/tasks/%2E%2E",
        "/api/tasks//history",
        "/api/summary/x",
        "/index.html",
        "/etc/passwd",
    ],
)
def test_anything_but_the_read_routes_is_404(setup: Setup, path: str) -> None:
    assert request(setup, "GET", path)[0] == 404


def test_every_answer_has_the_strict_headers(setup: Setup) -> None:
    for path, cookie in (("/", True), ("/app.js", True), ("/api/tasks", True), ("/", False)):
        _, headers, _ = request(setup, "GET", path, cookie=cookie)
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in csp


def test_the_page_has_no_inline_script_and_loads_only_its_own_assets() -> None:
    from importlib import resources

    static = resources.files("taskbeacon.console").joinpath("static")
    html = static.joinpath("index.html").read_text()
    assert "<script>" not in html and "<script " in html and 'src="/app.js"' in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers either
    for name in ("index.html", "app.js", "app.css"):
        text = static.joinpath(name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
        assert "innerHTML" not in text and "eval(" not in text


def test_proxy_answers_what_the_api_answers(setup: Setup) -> None:
    for path, params in (
        ("/summary", {"by": "cluster"}),
        ("/tasks", {"limit": "3"}),
        ("/search", {"tag": "team=data"}),
    ):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        status, _, body = request(setup, "GET", f"/api{path}?{query}")
        assert status == 200
        expected = setup.api(path, **params)
        assert [_key(i) for i in body.get("items", body.get("groups", []))] == [
            _key(i) for i in expected.get("items", expected.get("groups", []))
        ]


def test_proxy_passes_coverage(setup: Setup) -> None:
    status, _, body = request(setup, "GET", "/api/coverage")
    assert status == 200
    assert body == setup.api("/coverage")


def test_proxy_keeps_an_arn_in_one_segment_and_passes_api_errors(setup: Setup) -> None:
    task = setup.api("/tasks", limit=1)["items"][0]
    arn = task["taskArn"].replace(":", "%3A").replace("/", "%2F")
    status, _, body = request(setup, "GET", f"/api/tasks/{arn}")
    assert status == 200 and body["taskId"] == task["taskId"]
    status, _, body = request(setup, "GET", f"/api/tasks/{task['taskId']}/history")
    assert status == 200 and body["items"]
    status, _, body = request(setup, "GET", "/api/tasks/0000000000000000000000000000dead")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, body = request(setup, "GET", "/api/tasks?since=yesterday")
    assert status == 400 and body["error"]["field"] == "since"
    status, _, body = request(setup, "GET", "/api/tasks?limit=1&limit=2")
    assert status == 400 and body["error"]["field"] == "limit"


def test_upstream_down_is_502(setup: Setup) -> None:
    from taskbeacon.api.client import ApiClient, ClientConfig, StaticCredentials
    from taskbeacon.console.server import ConsoleServer

    api = ApiClient(
        ClientConfig(
            "http://127.0.0.1:1", region="us-east-1", credentials=StaticCredentials("a", "b"), retries=0
        )
    )
    console = ConsoleServer(api).start()
    try:
        status, body = console.proxy("/tasks", "")
    finally:
        console.stop()
    assert status == 502 and "cannot connect" in body["error"]["message"]


def _key(item: dict[str, Any]) -> Any:
    task = item.get("task", item)
    return task.get("taskId", task.get("group"))


# ---- a console address clicked on another site: one same-site step, nothing readable -------------------

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
@pytest.mark.parametrize("cookie", [True, False])
@pytest.mark.parametrize(
    "path", ["/", "/?via=", "/?secret=whatever", "/?x=1"], ids=["root", "empty-via", "secret", "query"]
)
def test_a_navigation_from_another_site_gets_the_step_page(
    setup: Setup, site: str, cookie: bool, path: str
) -> None:
    if path == "/?via=":
        path = "/?via=step"  # already stepped and still cross-site: refused, no loop
    status, headers, body = request(
        setup, "GET", path, cookie=cookie, headers={**NAVIGATE, "Sec-Fetch-Site": site}
    )
    if "via=" in path:
        assert status == 403 and headers["content-type"].startswith("text/html")
        assert b"Paste this address into the address bar" in body
        return
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "set-cookie" not in headers and "location" not in headers
    assert body == server.STEP_PAGE  # a fixed page: nothing of the request, the session or the fleet
    assert b'<script src="/step.js"' in body and b'id="continue"' in body
    for secret in (setup.console.secret, setup.console.session, "whatever"):
        assert secret.encode() not in body
    assert "default-src 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"},  # fetch()
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"},  # <script>
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"},  # a frame
        {**NAVIGATE, "Sec-Fetch-Site": "cross-site"},  # even a top-level navigation to the API
        {**NAVIGATE, "Sec-Fetch-Site": "same-site"},
        {**NAVIGATE, "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},  # a form POST's shape
    ],
)
@pytest.mark.parametrize("path", ["/api/tasks", "/api/summary?by=cluster", "/app.js"])
def test_cross_site_still_reads_nothing(setup: Setup, headers: dict[str, str], path: str) -> None:
    status, _, body = request(setup, "GET", path, headers=headers)
    assert status == 403
    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert b"taskArn" not in text and b"groups" not in text


def test_a_cross_site_frame_of_the_page_is_refused(setup: Setup) -> None:
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
    assert request(setup, "GET", "/", headers=headers)[0] == 403


def test_the_step_script_is_public_and_fixed(setup: Setup) -> None:
    status, headers, body = request(
        setup, "GET", "/step.js", cookie=False, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert b"via" in body and b"location.replace" in body
    assert request(setup, "GET", "/favicon.svg", cookie=False)[0] == 200


def test_after_the_step_the_page_opens_with_the_cookie(setup: Setup) -> None:
    status, headers, body = request(
        setup, "GET", "/?via=step", headers={**NAVIGATE, "Sec-Fetch-Site": "same-origin"}
    )
    assert status == 200 and b'src="/app.js"' in body
    status, headers, _ = request(
        setup,
        "GET",
        f"/?secret={setup.console.secret}&via=step",
        cookie=False,
        headers={**NAVIGATE, "Sec-Fetch-Site": "same-origin"},
    )
    assert status == 303 and headers["location"] == "/" and "SameSite=Strict" in headers["set-cookie"]


@pytest.mark.parametrize(
    ("path", "cookie", "host", "status", "says"),
    [
        ("/", False, None, 403, "Open the URL that `taskbeacon console`"),
        ("/?secret=wrong", False, None, 403, "wrong secret"),
        ("/", True, "localhost:{port}", 403, "does not answer to other names"),
        ("/nowhere", True, None, 404, "pages live after #"),
    ],
)
def test_a_browser_gets_readable_error_pages(
    setup: Setup, path: str, cookie: bool, host: str | None, status: int, says: str
) -> None:
    got, headers, body = request(
        setup,
        "GET",
        path,
        cookie=cookie,
        host=host.format(port=setup.console.port) if host else None,
        headers={**NAVIGATE, "Sec-Fetch-Site": "none"},
    )
    assert got == status
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body.startswith(b"<!doctype html>") and b"What to do" in body and says.encode() in body
    assert b'{"error"' not in body
