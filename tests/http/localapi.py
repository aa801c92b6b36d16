"""A SigV4-signing client for tests that talk to local mode's real gateway."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def send(
    base_url: str,
    method: str,
    path: str,
    *,
    credentials: dict[str, str] | None,
    region: str = "us-east-1",
    body: bytes | None = None,
    tamper: bool = False,
) -> Reply:
    url = base_url + path
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
    if credentials is not None:
        creds = Credentials(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials.get("Token") or None
        )
        SigV4Auth(creds, "execute-api", region).add_auth(request)
    prepared = dict(request.headers.items())
    if tamper:
        prepared["Authorization"] = prepared["Authorization"][:-4] + "0000"
    http_request = urllib.request.Request(url, data=body, method=method, headers=prepared)
    try:
        with urllib.request.urlopen(http_request, timeout=30) as response:
            return Reply(response.status, dict(response.headers.items()), _decode(response.read()))
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers.items()), _decode(error.read()))


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def envelope(
    task: dict[str, Any],
    *,
    source: str = "tmde-v4",
    collected_at: str,
    sequence: int = 1,
    reason: str = "start",
) -> bytes:
    document = {
        "schemaVersion": 1,
        "source": source,
        "collectedAt": collected_at,
        "sequence": sequence,
        "reason": reason,
        "agent": {"version": "test", "mode": "once", "instanceId": "test-agent"},
        "task": task,
    }
    return json.dumps(document).encode()


def post_snapshot(
    local: Any, credentials: dict[str, str], task: dict[str, Any], **envelope_fields: Any
) -> Reply:
    """``POST /snapshots`` of ``task`` in a v4 envelope (``collected_at`` and friends as for ``envelope``)."""
    return send(
        local.url, "POST", "/snapshots", credentials=credentials, body=envelope(task, **envelope_fields)
    )
