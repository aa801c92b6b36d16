"""The local API gateway: HTTP request → SigV4 check → API Gateway REST proxy event → real handler.

Mirrors what API Gateway does for this API: unknown routes and unsigned or badly signed requests get
403 before any handler runs, and ``requestContext.identity`` names the verified caller. Any method
is read, not only those ``http.server`` has a ``do_<METHOD>`` for: a method no route defines (TRACE,
CONNECT, FOO...) is an unknown route, 403 "Missing Authentication Token" as API Gateway answers it.
Whitespace is HTTP's (SP and HTAB), never what ``str.split()``/``str.strip()`` take for it.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import socket
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from taskbeacon.local.aws.admission import Admission, Verdict
from taskbeacon.local.aws.engine import use_lambdas_source
from taskbeacon.local.aws.lambda_runtime import LambdaRuntime
from taskbeacon.local.aws.principals import Principal, PrincipalRegistry, container_credentials
from taskbeacon.local.aws.sigv4 import OWS, SignatureError, verify

STAGE = "local"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
# How long a body may take to arrive once its headers have: a body shorter than its
# Content-Length is answered 400 when the client closes its side, or after this long.
BODY_TIMEOUT_SECONDS = 5.0
# An idle keep-alive connection (or one that never finishes its headers) is closed after this.
IDLE_TIMEOUT_SECONDS = 60.0
# Deepest JSON nesting the local routes parse. Real EventBridge events nest about six levels;
# Python's json module raises RecursionError near the interpreter's recursion limit (~1000).
MAX_JSON_DEPTH = 64
LOCAL_ROUTES = _LOCAL_ROUTES = {
    ("POST", "/_local/credentials"),
    ("POST", "/_local/events"),
    ("POST", "/_local/reindex"),
    ("POST", "/_local/sweep"),
    ("GET", "/_local/events/published"),  # core.vocabulary.LOCAL_PUBLISHED_EVENTS
}
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_ACCOUNT = re.compile(r"[0-9]{12}", re.ASCII)
# RFC 9112 3: method SP request-target SP HTTP-version, the method a token (RFC 9110 9.1, 5.6.2).
_REQUEST_LINE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]", re.ASCII)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}[ \t]*", re.ASCII)  # BWS may precede a chunk-ext's ";"
MAX_REQUEST_LINE = 65536


def _compile(template: str) -> re.Pattern[str]:
    return re.compile(
        "^"
        + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        + "$"
    )


@functools.cache
def _compiled_routes() -> tuple[tuple[str, str, re.Pattern[str], str], ...]:
    """The API's routes, from the one vocabulary the handlers and the CDK stack use."""
    use_lambdas_source()
    from core.vocabulary import ROUTES

    return tuple((r.method, r.path, _compile(r.path), r.function) for r in ROUTES)


class _GatewayServer(ThreadingHTTPServer):
    """Sized for many agents at once, and quiet when a client hangs up (issue 15)."""

    # socketserver's default backlog of 5 resets connections when a fleet of agents starts together.
    request_queue_size = 512
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return  # the client hung up: nothing to answer and nothing to report
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def match_route(method: str, path: str) -> tuple[str, dict[str, str], str] | None:
    for route_method, template, pattern, function in _compiled_routes():
        found = pattern.match(path)
        if found and route_method == method:
            return template, found.groupdict(), function
    return None


class InvalidBody(Exception):
    """A body of a local route that is not a JSON document the route can take: 400, naming where."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def parse_json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON (RFC 8259: UTF-8, no NaN/Infinity), nested at most ``max_depth`` levels,
    with no string that cannot be stored (lone surrogates from ``\\ud800`` escapes)."""
    try:
        text = body.decode("utf-8")  # overlong forms and encoded surrogates are invalid UTF-8 too
    except UnicodeDecodeError as error:
        raise InvalidBody(f"request body is not valid UTF-8 (byte {error.start})") from None
    depth, offset = _nesting(text)
    if depth > max_depth:
        raise InvalidBody(f"request body nests JSON deeper than {max_depth} levels (at character {offset})")

    def no_constant(name: str) -> Any:
        raise InvalidBody(f"request body contains {name}, which is not JSON")

    try:
        document = json.loads(text, parse_constant=no_constant)
    except RecursionError:  # the parser's own limit, should max_depth ever be set above it
        raise InvalidBody("request body nests JSON deeper than the parser can take") from None
    except json.JSONDecodeError as error:
        raise InvalidBody(
            f"request body is not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    except ValueError as error:  # e.g. an integer beyond int_max_str_digits
        raise InvalidBody(f"request body is not valid JSON: {error}") from None
    _check_strings(document)
    return document


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def _nesting(text: str) -> tuple[int, int]:
    """Deepest ``[``/``{`` nesting outside strings, and where it was first reached (no recursion)."""
    depth = deepest = where = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, token.start()
        elif char in "]}":
            depth -= 1
    return deepest, where


def _check_strings(document: Any) -> None:
    """Every key and string must be encodable (json.loads lets ``"\\ud800"`` through)."""
    pending: list[tuple[Any, str]] = [(document, "body")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            _encodable(value, path)
        elif isinstance(value, dict):
            for key, item in value.items():
                _encodable(key, f"{path} key {json.dumps(key)[:40]}")
                pending.append((item, _child(path, key)))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(value))


def _encodable(text: str, path: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBody(f"{path} is not valid unicode text (a lone surrogate)", path) from None


def _child(path: str, key: str) -> str:
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key, re.ASCII)
    if path == "body":
        return key if plain else f"[{json.dumps(key)}]"
    return f"{path}.{key}" if plain else f"{path}[{json.dumps(key)}]"


class Gateway:
    """``region``: the region this API lives in, which signatures must be scoped to (default
    ``AWS_REGION``, which local mode sets before it starts the gateway, else us-east-1)."""

    def __init__(
        self,
        registry: PrincipalRegistry,
        runtime: LambdaRuntime,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str | None = None,
    ):
        self.registry = registry
        self.runtime = runtime
        self.region = region or os.environ.get("AWS_REGION") or "us-east-1"
        self.body_timeout = BODY_TIMEOUT_SECONDS
        self.admission = Admission()
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        self.server = _GatewayServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="taskbeacon-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.runtime.stop()

    # -- request handling -------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        path = split.path
        route = match_route(method, path)
        if route is None and (method, path) not in _LOCAL_ROUTES:
            return _gateway_error(
                HTTPStatus.FORBIDDEN, "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token"
            )
        host = next((v for k, v in headers.items() if k.lower() == "host"), "localhost")
        try:
            verified = verify(
                self.registry,
                method=method,
                url=f"http://{host}{raw_path}",
                headers=headers,
                body=body,
                region=self.region,
            )
        except SignatureError as error:
            return _gateway_error(HTTPStatus.FORBIDDEN, error.response_type, str(error))
        principal = verified.principal
        if route is None:
            return self._local_route(method, path, principal, body, split.query)
        template, path_parameters, function = route
        if principal.kind == "task" and function != "ingest":
            # The task role is granted execute-api:Invoke on POST /snapshots only.
            return _gateway_error(
                HTTPStatus.FORBIDDEN,
                "ACCESS_DENIED",
                f"User: {principal.arn} is not authorized to perform: execute-api:Invoke",
            )
        event = _proxy_event(
            method, template, split.path, split.query, path_parameters, headers, body, principal, source_ip
        )
        response = self.runtime.invoke(function, event)
        out_headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out_headers[name] = ", ".join(values)
        payload = response.get("body") or ""
        data = payload.encode() if isinstance(payload, str) else payload
        if response.get("isBase64Encoded"):
            data = base64.b64decode(data)
        return int(response.get("statusCode", 502)), out_headers, data

    def _local_route(  # noqa: PLR0911 - one answer per local route and per refusal
        self, method: str, path: str, principal: Principal, body: bytes, query: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        if principal.kind != "operator":
            return _gateway_error(
                HTTPStatus.FORBIDDEN,
                "ACCESS_DENIED",
                f"User: {principal.arn} is not authorized to use {path}",
            )
        if method == "GET":  # /_local/events/published, the one GET among the local routes
            from taskbeacon.local.aws.published import published_events

            self.runtime.settle()  # the indexer publishes change events: in step with earlier writes
            return _json(*published_events(query))
        try:
            document = parse_json_body(body)
        except InvalidBody as error:
            return _error(HTTPStatus.BAD_REQUEST, error.message, error.field)
        if not isinstance(document, dict):
            return _error(HTTPStatus.BAD_REQUEST, "request body must be a JSON object", "body")
        if path == "/_local/credentials":
            return self._mint_credentials(document)
        if path in ("/_local/reindex", "/_local/sweep"):
            self.runtime.settle()  # both judge the index against the records: in step with earlier writes
        if path == "/_local/reindex":
            from taskbeacon.local.reindex import local_reindex

            return _json(*local_reindex(document, self.runtime))
        if path == "/_local/sweep":
            from taskbeacon.local.sweep import handle

            return handle(self, document)
        from core.errors import Throttled, error_body
        from handlers.http_errors import status_of

        try:
            result = self.runtime.invoke("events", document)
        except Throttled as error:  # in AWS Lambda retries the invocation; locally the caller does
            status, headers, data = _json(status_of(error), error_body(error.code, error.message))
            return status, {**headers, "Retry-After": str(error.retry_after)}, data
        status = HTTPStatus.OK if result.get("accepted") else HTTPStatus.BAD_REQUEST
        return _json(status, result)

    def _mint_credentials(self, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if document.get("collector") is True:
            account = document.get("accountId") or self.registry.account_id
            if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
                return _error(HTTPStatus.BAD_REQUEST, "accountId must be a 12-digit account id", "accountId")
            return _json(HTTPStatus.OK, container_credentials(self.registry.collector(account)))
        task_arn = document.get("taskArn")
        if not isinstance(task_arn, str):
            return _error(HTTPStatus.BAD_REQUEST, "taskArn (string) is required", "taskArn")
        try:
            principal = self.registry.task(task_arn)
        except ValueError as error:
            return _error(HTTPStatus.BAD_REQUEST, str(error), "taskArn")
        return _json(HTTPStatus.OK, container_credentials(principal))


def _proxy_event(
    method: str,
    resource: str,
    path: str,
    query: str,
    path_parameters: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    principal: Principal,
    source_ip: str,
) -> dict[str, Any]:
    multi_query = parse_qs(query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi_headers.setdefault(name, []).append(value)
    try:
        text: str | None = body.decode() if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": principal.account_id,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": headers.get("Host") or headers.get("host"),
            "identity": principal.identity(source_ip),
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _json(status: int, document: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def _gateway_error(status: int, response_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    # API Gateway's own rejections, shaped by the stack's gateway responses (infra/api.py) like
    # the API's errors, with the gateway-response type as the code.
    from core.errors import error_body

    return _json(status, error_body(response_type, message))


def _error(status: int, message: str, field: str) -> tuple[int, dict[str, str], bytes]:
    from core.errors import error_body

    return _json(status, error_body("invalid_input", message, field))


def _busy(verdict: Verdict, retry_after: int) -> tuple[int, dict[str, str], bytes]:
    """API Gateway's throttling answer (429) or a busy backend's (503), with when to come back."""
    if verdict is Verdict.QUEUE_FULL:
        status, reply = _gateway_error(HTTPStatus.TOO_MANY_REQUESTS, "THROTTLED", "Too Many Requests")[::2]
    else:
        status, reply = _gateway_error(
            HTTPStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "the local API is busy; retry later"
        )[::2]
    return status, {"Content-Type": "application/json", "Retry-After": str(retry_after)}, reply


class _Refused(Exception):
    """The request cannot be read: answer ``reply`` and close the connection."""

    def __init__(self, reply: tuple[int, dict[str, str], bytes]) -> None:
        super().__init__(reply[0])
        self.reply = reply


def _bad_framing(message: str) -> _Refused:
    return _Refused(_error(HTTPStatus.BAD_REQUEST, message, "Content-Length"))


def _too_large() -> _Refused:
    return _Refused(
        _gateway_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "REQUEST_TOO_LARGE", "Request Too Long")
    )


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Gateway
    protocol_version = "HTTP/1.1"
    server_version = "taskbeacon-local"
    timeout = IDLE_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handlers log structured JSON; access lines would drown it

    def _serve(self) -> None:
        refused = False
        try:
            body = self._read_body()
        except _Refused as refusal:
            status, headers, data = refusal.reply
            refused = True
        else:
            status, headers, data = self._admitted(body)
        self._reply(status, headers, data, close=refused)

    def _admitted(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        admission = self.owner.admission
        verdict = admission.enter()
        if verdict is not Verdict.ADMITTED:
            return _busy(verdict, admission.retry_after)
        try:
            # Field values without their surrounding whitespace (RFC 9110 5.5), as API Gateway sees them.
            received = {name: value.strip(OWS) for name, value in self.headers.items()}
            return self.owner.handle(self.command, self.path, received, body, self.client_address[0])
        except Exception:  # a handler crash is a 502 from API Gateway, not a dropped connection
            import traceback

            traceback.print_exc()
            return _gateway_error(HTTPStatus.BAD_GATEWAY, "DEFAULT_5XX", "Internal server error")
        finally:
            admission.leave()

    def _reply(self, status: int, headers: dict[str, str], data: bytes, *, close: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if close:
            self.close_connection = True
            self._linger()

    # -- request line -----------------------------------------------------------------------
    def handle_one_request(self) -> None:
        """``BaseHTTPRequestHandler.handle_one_request``, except that every method is served.

        The base class dispatches to ``do_<METHOD>`` and answers 501 where there is none; API
        Gateway answers a method no route defines like an unknown path, so every method goes to
        ``_serve`` and on to the route table.
        """
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return  # answered already
            self._serve()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True  # a read or write timed out: drop the connection

    def parse_request(self) -> bool:
        """The request line as RFC 9112 writes it, single SPs apart, then the base class's parse.

        The base class splits the line (read as Latin-1) with ``str.split()``, which would take
        VT, FF, U+001C-U+001F, U+0085 or U+00A0 for the space between method, target and version.
        """
        line = str(self.raw_requestline, "iso-8859-1").removesuffix("\n").removesuffix("\r")
        if line and not _REQUEST_LINE.fullmatch(line):
            self.command, self.request_version, self.requestline = "", "HTTP/1.1", line
            self._reply(
                *_error(
                    HTTPStatus.BAD_REQUEST,
                    "malformed request line: want METHOD SP request-target SP HTTP-version, "
                    "single spaces apart, in printable ASCII",
                    "requestLine",
                ),
                close=True,
            )
            return False
        return super().parse_request()

    # -- framing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        """The body as framed by Content-Length or chunked Transfer-Encoding, or ``_Refused``.

        Framing that cannot be trusted (RFC 9112 section 6.3) is refused at once, before any body is
        read: a Content-Length that is not a decimal number, several that disagree, or one together
        with Transfer-Encoding. A body shorter than announced is refused when the client closes its
        side, or after ``body_timeout`` seconds, never waited for indefinitely.
        """
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings:
            if lengths:
                raise _bad_framing("Content-Length and Transfer-Encoding must not both be sent")
            names = [part.strip(OWS).lower() for value in codings for part in value.split(",")]
            if names != ["chunked"]:
                raise _bad_framing(f"Transfer-Encoding {', '.join(codings)!r} is not supported")
            return self._with_timeout(self._read_chunked)
        if not lengths:
            return b""
        values = {part.strip(OWS) for value in lengths for part in value.split(",")}
        for value in values:
            if not _DIGITS.fullmatch(value):
                raise _bad_framing(f"Content-Length must be a number of bytes, not {value[:40]!r}")
        numbers = {int(value.lstrip("0") or "0") if len(value.lstrip("0")) <= 15 else -1 for value in values}
        if len(numbers) > 1:
            raise _bad_framing("several Content-Length values that disagree")
        (length,) = numbers
        if length < 0 or length > MAX_REQUEST_BYTES:
            raise _too_large()
        if length == 0:
            return b""
        return self._with_timeout(lambda: self._read_exactly(length))

    def _with_timeout(self, read: Any) -> bytes:
        self.connection.settimeout(self.owner.body_timeout)
        try:
            return bytes(read())
        except TimeoutError:
            raise _bad_framing(
                f"the body did not arrive within {self.owner.body_timeout:g} s "
                "(shorter than its Content-Length?)"
            ) from None
        except OSError:
            raise _bad_framing("the connection failed while the body was read") from None
        finally:
            self.connection.settimeout(self.timeout)

    def _read_exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) < length:
            raise _bad_framing(
                f"the body ended after {len(data)} of the {length} bytes Content-Length announced"
            )
        return data

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.removesuffix(b"\n").removesuffix(b"\r").split(b";", 1)[0]
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                raise _bad_framing("malformed chunked body (chunk size line)")
            size = int(size_text.rstrip(OWS.encode()), 16)
            if size == 0:
                break
            if len(out) + size > MAX_REQUEST_BYTES:
                raise _too_large()
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.read(2) != b"\r\n":
                raise _bad_framing("malformed chunked body (chunk shorter than its size)")
            out += chunk
        for _ in range(64):  # trailer fields, ignored, up to the empty line
            line = self.rfile.readline(8192)
            if line in (b"\r\n", b"\n"):
                return bytes(out)
            if not line.endswith(b"\n"):
                break
        raise _bad_framing("malformed chunked body (trailer)")

    def _linger(self) -> None:
        """Close gracefully after a refusal: stop sending, then discard what the client still sends
        for a moment, so the kernel does not reset the connection before the client read the answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            for _ in range(64):
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass
