"""The local API gateway: HTTP request → SigV4 check → API Gateway REST proxy event → real handler.

Mirrors what API Gateway does for this API: unknown routes and unsigned or badly signed requests get
403 before any handler runs, and ``requestContext.identity`` names the verified caller.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from taskbeacon.local.lambda_runtime import LambdaRuntime
from taskbeacon.local.principals import Principal, PrincipalRegistry, container_credentials
from taskbeacon.local.sigv4 import SignatureError, verify

STAGE = "local"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit

# (method, resource template, function): the same routes the CDK stack defines.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/snapshots", "ingest"),
    ("GET", "/tasks", "query"),
    ("GET", "/tasks/{taskId}", "query"),
    ("GET", "/tasks/{taskId}/history", "query"),
    ("GET", "/search", "query"),
    ("GET", "/summary", "query"),
    ("GET", "/openapi.json", "query"),
)
_LOCAL_ROUTES = {("POST", "/_local/credentials"), ("POST", "/_local/events")}


def _compile(template: str) -> re.Pattern[str]:
    return re.compile(
        "^"
        + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        + "$"
    )


_COMPILED = [(method, template, _compile(template), function) for method, template, function in ROUTES]


def match_route(method: str, path: str) -> tuple[str, dict[str, str], str] | None:
    for route_method, template, pattern, function in _COMPILED:
        found = pattern.match(path)
        if found and route_method == method:
            return template, found.groupdict(), function
    return None


class Gateway:
    def __init__(
        self, registry: PrincipalRegistry, runtime: LambdaRuntime, host: str = "127.0.0.1", port: int = 0
    ):
        self.registry = registry
        self.runtime = runtime
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
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
                self.registry, method=method, url=f"http://{host}{raw_path}", headers=headers, body=body
            )
        except SignatureError as error:
            return _gateway_error(HTTPStatus.FORBIDDEN, error.response_type, str(error))
        principal = verified.principal
        if route is None:
            return self._local_route(method, path, principal, body)
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
            import base64

            data = base64.b64decode(data)
        return int(response.get("statusCode", 502)), out_headers, data

    def _local_route(
        self, method: str, path: str, principal: Principal, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if principal.kind != "operator":
            return _gateway_error(
                HTTPStatus.FORBIDDEN,
                "ACCESS_DENIED",
                f"User: {principal.arn} is not authorized to use {path}",
            )
        try:
            document = json.loads(body or b"null")
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "request body is not valid JSON", "body")
        if not isinstance(document, dict):
            return _error(HTTPStatus.BAD_REQUEST, "request body must be a JSON object", "body")
        if path == "/_local/credentials":
            return self._mint_credentials(document)
        from core.errors import Throttled
        from handlers.http_errors import status_of

        try:
            result = self.runtime.invoke("events", document)
        except Throttled as error:  # in AWS Lambda retries the invocation; locally the caller does
            status, headers, data = _json(
                status_of(error), {"error": {"code": error.code, "message": error.message, "field": None}}
            )
            return status, {**headers, "Retry-After": str(error.retry_after)}, data
        status = HTTPStatus.OK if result.get("accepted") else HTTPStatus.BAD_REQUEST
        return _json(status, result)

    def _mint_credentials(self, document: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if document.get("collector") is True:
            account = str(document.get("accountId") or self.registry.account_id)
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
        import base64

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
    return _json(status, {"error": {"code": response_type, "message": message, "field": None}})


def _error(status: int, message: str, field: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": "invalid_input", "message": message, "field": field}})


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Gateway
    protocol_version = "HTTP/1.1"
    server_version = "taskbeacon-local"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the handlers log structured JSON; access lines would drown it

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            status, headers, data = _gateway_error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "REQUEST_TOO_LARGE", "Request Too Long"
            )
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            headers_in = dict(self.headers.items())
            try:
                status, headers, data = self.owner.handle(
                    self.command, self.path, headers_in, body, self.client_address[0]
                )
            except Exception:  # a handler crash is a 502 from API Gateway, not a dropped connection
                import traceback

                traceback.print_exc()
                status, headers, data = _gateway_error(
                    HTTPStatus.BAD_GATEWAY, "DEFAULT_5XX", "Internal server error"
                )
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_PATCH = _serve
