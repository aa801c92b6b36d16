"""The console's HTTP server: static assets and a signing proxy for the API's read routes, on 127.0.0.1 only.

Who may use it, checked on every request in this order:

1. ``Host`` must be ``127.0.0.1:<port>`` (a page on another name that resolves here, DNS rebinding,
   is refused);
2. the request must not be cross-site: an ``Origin`` other than our own, or a ``Sec-Fetch-Site``
   other than ``same-origin`` / ``none`` (a typed or pasted address), is refused. One exception, so a
   console address clicked on another site (chat, a wiki) opens: a top-level navigation to ``/``
   (``Sec-Fetch-Mode: navigate``, ``Sec-Fetch-Dest: document``) gets the *step page*, a fixed page
   with no data and no cookie whose script (``/step.js``) navigates again to the same address plus
   ``via=step``. That second navigation is same-origin, so the browser sends the ``SameSite=Strict``
   cookie; a ``via=step`` request that is still cross-site is refused (no loop). ``/api/...`` and
   every other path stay refused to cross-site requests, so another site still cannot read anything;
3. only ``GET`` and ``HEAD`` (405 otherwise: the proxy never writes);
4. the per-run secret: ``/?secret=...`` (the printed URL) trades it for an ``HttpOnly``,
   ``SameSite=Strict`` cookie and redirects to ``/`` so the secret leaves the address bar; every other
   request needs that cookie (403 otherwise), static assets included, except ``/step.js`` and
   ``/favicon.svg`` (fixed files with no data, which the step and error pages load);
5. ``/api/...`` proxies exactly the read routes below (404 for anything else), signed with SigV4 by
   the CLI's client, so the browser never sees a credential.

Refusals and errors are JSON for the page's own requests and a small HTML page, saying what to do,
for a document the browser navigates to (``Sec-Fetch-Dest: document`` or ``Accept: text/html``).

Every answer carries a strict Content-Security-Policy (scripts, styles and everything else from this
server only, no inline script), ``no-store``, ``nosniff``, no referrer and no framing.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from taskbeacon.api.client import Getter, segment
from taskbeacon.api.errors import ApiError, CliError, error_body

log = logging.getLogger("taskbeacon.console")

HOST = "127.0.0.1"
API_PREFIX = "/api"
# The API's read routes, as in lambdas/core/vocabulary.py QUERY_ROUTES less /openapi.json (a test
# checks they match). Kept here because an installed CLI has no lambdas/ to import them from.
READ_ROUTES = ("/tasks", "/tasks/{taskId}", "/tasks/{taskId}/history", "/search", "/summary", "/coverage")
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/step.js": ("step.js", "text/javascript; charset=utf-8"),
}
# Fixed files with no data, served without the session cookie (the step and error pages use them).
PUBLIC_ASSETS = frozenset({"/step.js", "/favicon.svg"})
STEP_MARK = "via"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def match_route(path: str) -> str | None:
    """``/tasks/arn%3A.../history`` -> the API path to call (each id re-encoded as one segment), or None."""
    parts = path.split("/")[1:]
    for template in READ_ROUTES:
        names = template.split("/")[1:]
        if len(names) != len(parts):
            continue
        out = []
        for name, part in zip(names, parts, strict=True):
            if name.startswith("{"):
                value = unquote(part)
                if not value or value in (".", ".."):
                    break
                out.append(segment(value))
            elif name == part:
                out.append(part)
            else:
                break
        else:
            return "/" + "/".join(out)
    return None


class ConsoleServer:
    """Serves until ``stop()``; ``url`` (with the secret) is what the operator opens."""

    def __init__(self, api: Getter, *, port: int = 0, endpoint: str = "") -> None:
        self.api = api
        self.endpoint = endpoint
        self.secret = secrets.token_urlsafe(32)
        self.session = secrets.token_urlsafe(32)
        self._assets = {path: (_asset(name), kind) for path, (name, kind) in ASSETS.items()}
        self._httpd = ThreadingHTTPServer((HOST, port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/?secret={self.secret}"

    @property
    def cookie_name(self) -> str:
        # Cookies ignore ports: one name per port keeps two consoles on this host apart.
        return f"taskbeacon_console_{self.port}"

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="console", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def asset(self, path: str) -> tuple[bytes, str] | None:
        return self._assets.get(path)

    def proxy(self, path: str, query: str) -> tuple[int, Any]:
        """One signed GET to the API; its error answers pass through, our own failures are 502."""
        api_path = match_route(path)
        if api_path is None:
            return 404, error_body("not_found", f"the console proxies only the API's read routes, not {path}")
        pairs = parse_qsl(query, keep_blank_values=True)
        params: dict[str, str | int | None] = {}
        for key, value in pairs:
            if key in params:
                return 400, error_body("invalid_input", f"query parameter {key!r} is repeated", key)
            params[key] = value
        try:
            return 200, self.api.get(api_path, params)
        except ApiError as exc:
            return exc.status, error_body(exc.code, exc.api_message, exc.field)
        except CliError as exc:  # cannot connect, no credentials, an answer that is not JSON
            return 502, error_body("console_upstream", exc.message)


def _asset(name: str) -> bytes:
    return resources.files("taskbeacon.console").joinpath("static", name).read_bytes()


def html_page(title: str, *paragraphs: str, extra_head: str = "", body_end: str = "") -> bytes:
    """A small fixed page; every text is escaped (none carries data or a secret)."""
    text = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)} · taskbeacon console</title>\n"
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml">\n'
        f"{extra_head}</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{text}{body_end}</body>\n</html>\n"
    ).encode()


# What a console address clicked on another site gets: no data, no cookie; step.js continues to the
# same address (fragment included) with via=step, a same-origin navigation that carries the cookie.
STEP_PAGE = html_page(
    "Opening the taskbeacon console",
    "This address was opened from another site. The console answers only to its own pages, "
    "so it takes one more step on this machine.",
    extra_head='<script src="/step.js" defer></script>\n',
    body_end='<p><a id="continue" href="/?via=step">Open the console</a></p>\n',
)

# Next steps for the console's own refusals, on an HTML page.
NEXT_STEPS = {
    "host": "Open the console at the address `taskbeacon console` printed (http://127.0.0.1:<port>/...): "
    "the console does not answer to other names such as localhost.",
    "cross-site": "Paste this address into the address bar of the browser you opened the console in.",
    "session": "Open the URL that `taskbeacon console` (or `make run`) printed: it carries this run's "
    "secret. A restarted console has a new secret.",
    "not-found": "The console's pages live after #: go to / for the overview.",
    "method": "The console only reads.",
}


def _handler(console: ConsoleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "taskbeacon-console"
        sys_version = ""

        def do_GET(self) -> None:
            self._handle(head=False)

        def do_HEAD(self) -> None:
            self._handle(head=True)

        def _refuse_method(self) -> None:
            self.close_connection = True  # its body, if any, is never read
            if self._refused():
                return
            self._fail(
                405,
                error_body("method_not_allowed", "the console only reads"),
                "method",
                extra={"Allow": "GET, HEAD"},
            )

        do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _refuse_method

        def _refused(self, *, head: bool = False) -> bool:
            """Host, then cross-site checks; answers 403 (or the step page), True when one fails."""
            if self.headers.get("Host") != f"{HOST}:{console.port}":
                self._fail(
                    403,
                    error_body("forbidden", f"the console answers only to Host {HOST}:{console.port}"),
                    "host",
                    head=head,
                )
                return True
            origin = self.headers.get("Origin")
            if origin is not None and origin != console.origin:
                self._fail(
                    403, error_body("forbidden", "cross-site request refused"), "cross-site", head=head
                )
                return True
            site = self.headers.get("Sec-Fetch-Site")
            if site is not None and site not in ALLOWED_FETCH_SITES:
                if self._is_step(origin):
                    self._send_bytes(200, STEP_PAGE, "text/html; charset=utf-8", head=head)
                    return True
                self._fail(
                    403,
                    error_body("forbidden", f"cross-site request refused (Sec-Fetch-Site: {site})"),
                    "cross-site",
                    head=head,
                )
                return True
            return False

        def _is_step(self, origin: str | None) -> bool:
            """A top-level navigation from another site to a console page, not yet stepped."""
            parts = urlsplit(self.path)
            return (
                self.command in ("GET", "HEAD")
                and origin is None
                and parts.path == "/"
                and STEP_MARK not in dict(parse_qsl(parts.query, keep_blank_values=True))
                and self.headers.get("Sec-Fetch-Mode") == "navigate"
                and self.headers.get("Sec-Fetch-Dest") == "document"
            )

        def _wants_html(self) -> bool:
            if (
                urlsplit(self.path).path.startswith(API_PREFIX + "/")
                or urlsplit(self.path).path == API_PREFIX
            ):
                return False
            return self.headers.get("Sec-Fetch-Dest") == "document" or "text/html" in (
                self.headers.get("Accept") or ""
            )

        def _fail(
            self,
            status: int,
            body: dict[str, Any],
            kind: str,
            *,
            head: bool = False,
            extra: dict[str, str] | None = None,
        ) -> None:
            """A refusal or error: JSON for the page's requests, a page saying what to do for a document."""
            if not self._wants_html():
                self._send(status, body, head=head, extra=extra)
                return
            page = html_page(f"HTTP {status}: {body['error']['message']}", "What to do: " + NEXT_STEPS[kind])
            self._send_bytes(status, page, "text/html; charset=utf-8", head=head, extra=extra)

        def _handle(self, *, head: bool) -> None:
            if self._refused(head=head):
                return
            parts = urlsplit(self.path)
            if parts.path == "/" and "secret" in dict(parse_qsl(parts.query)):
                self._login(dict(parse_qsl(parts.query))["secret"], head=head)
                return
            if parts.path in PUBLIC_ASSETS:
                public = console.asset(parts.path)
                assert public is not None
                self._send_bytes(200, public[0], public[1], head=head)
                return
            if not self._has_session():
                self._fail(
                    403,
                    error_body(
                        "forbidden",
                        "open the URL that `taskbeacon console` printed (it carries this run's secret)",
                    ),
                    "session",
                    head=head,
                )
                return
            if parts.path == API_PREFIX or parts.path.startswith(API_PREFIX + "/"):
                status, body = console.proxy(parts.path[len(API_PREFIX) :], parts.query)
                self._send(status, body, head=head)
                return
            asset = console.asset(parts.path)
            if asset is None:
                self._fail(
                    404,
                    error_body("not_found", f"no page {parts.path}; the console's pages live after #"),
                    "not-found",
                    head=head,
                )
                return
            self._send_bytes(200, asset[0], asset[1], head=head)

        def _login(self, secret: str, *, head: bool) -> None:
            if not hmac.compare_digest(secret.encode(), console.secret.encode()):
                self._fail(
                    403,
                    error_body("forbidden", "wrong secret: open the URL this run printed"),
                    "session",
                    head=head,
                )
                return
            cookie = f"{console.cookie_name}={console.session}; Path=/; HttpOnly; SameSite=Strict"
            # Back to / without the secret; the browser keeps the #fragment (the page asked for) across it.
            self._send_bytes(303, b"", "text/plain", head=head, extra={"Location": "/", "Set-Cookie": cookie})

        def _has_session(self) -> bool:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == console.cookie_name and hmac.compare_digest(
                    value.encode(), console.session.encode()
                ):
                    return True
            return False

        def _send(
            self, status: int, body: Any, *, head: bool = False, extra: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self._send_bytes(status, data, "application/json", head=head, extra=extra)

        def _send_bytes(
            self, status: int, data: bytes, kind: str, *, head: bool, extra: dict[str, str] | None = None
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            # Never the request line: the login URL carries the secret.
            log.debug("console: %s", format % args if "secret=" not in self.path else "login")

    return Handler
