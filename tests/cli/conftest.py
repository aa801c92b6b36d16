"""A fake query API on 127.0.0.1 that records requests and checks their SigV4 signatures."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDTASKBEACONTEST"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


@dataclass
class Recorded:
    path: str  # raw, still percent-encoded
    query: dict[str, str]
    headers: dict[str, str]
    signature_ok: bool


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._replies: dict[str, list[Reply]] = {}
        self.url = ""

    def reply(self, path: str, body: Any = None, status: int = 200, **kw: Any) -> None:
        """Queue an answer for ``path`` (raw path, no query); the last one queued repeats."""
        self._replies.setdefault(path, []).append(Reply(status, body, **kw))

    def next_reply(self, path: str) -> Reply:
        queue = self._replies.get(path)
        if not queue:
            return Reply(404, {"error": {"code": "not_found", "message": f"no route {path}", "field": None}})
        return queue.pop(0) if len(queue) > 1 else queue[0]

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


def signature_matches(method: str, host: str, raw_path: str, headers: dict[str, str]) -> bool:
    """Recompute the signature the way API Gateway would, from the signed headers only."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    _key, _date, region, service, _ = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    lowered = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(
        method=method, url=f"http://{host}{raw_path}", headers={h: lowered[h] for h in signed}, data=b""
    )
    request.context["timestamp"] = lowered["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return service == "execute-api" and hmac.compare_digest(expected, fields["Signature"])


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = dict(self.headers.items())
            ok = signature_matches("GET", self.headers["Host"], self.path, headers)
            api.requests.append(Recorded(parts.path, dict(parse_qsl(parts.query)), headers, ok))
            reply = api.next_reply(parts.path)
            time.sleep(reply.delay)
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Known test credentials; the machine's own AWS config, profiles and IMDS are never used."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "TASKBEACON_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def make_task() -> Any:
    return _task


def _task(task_id: str = "0123456789abcdef0123456789abcdef", **overrides: Any) -> dict[str, Any]:
    """A Task as the API returns it (camelCase, nulls for unknowns)."""
    task: dict[str, Any] = {
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{task_id}",
        "taskId": task_id,
        "accountId": "123456789012",
        "region": "us-east-1",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "clusterName": "prod",
        "family": "web",
        "revision": "7",
        "serviceName": "web-svc",
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "availabilityZone": "us-east-1a",
        "vpcId": "vpc-0abc",
        "desiredStatus": "RUNNING",
        "lastStatus": "RUNNING",
        "healthStatus": None,
        "cpu": "256",
        "memory": "512",
        "pullStartedAt": None,
        "startedAt": "2026-11-28T09:14:03.123456+00:00",
        "stoppingAt": None,
        "stoppedAt": None,
        "stoppedReason": None,
        "stopCode": None,
        "tags": {"team": "payments"},
        "containerInstanceArn": None,
        "containers": [
            {
                "name": "app",
                "dockerId": "d0c4e1",
                "image": "nginx:1.27",
                "imageDigest": "sha256:" + "ab" * 32,
                "lastStatus": "RUNNING",
                "exitCode": None,
                "healthStatus": "HEALTHY",
                "internal": False,
                "networks": [{"networkMode": "awsvpc", "ipv4Addresses": ["10.1.2.3"], "eni": "eni-0abc"}],
            }
        ],
        "firstSeenAt": "2026-11-28T09:14:05Z",
        "lastSeenAt": "2026-11-28T09:30:00Z",
        "lastSource": "tmde-v4",
        "reporters": ["agent-1"],
        "stale": False,
    }
    task.update(overrides)
    return task
