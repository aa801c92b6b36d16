"""POST /snapshots: SigV4-signed, retried with capped exponential backoff and full jitter, within a budget."""

from __future__ import annotations

import json
import random
import re
import time
import urllib.parse

from taskbeacon_agent import __version__, http, retry, sigv4
from taskbeacon_agent.credentials import CredentialsError, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Any, Callable, Mapping, Optional

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class ConfigError(Exception):
    pass


class SendError(Exception):
    """Sending failed. `retryable` False means the API rejected the snapshot (4xx)."""

    def __init__(self, message: str, status: Optional[int] = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def signing_region(endpoint: str, env: Mapping[str, str]) -> str:
    explicit = env.get("TASKBEACON_REGION")
    if explicit:
        return explicit
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    m = _EXECUTE_API_HOST.match(host)
    if m:
        return m.group(1)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name]
    raise ConfigError("cannot tell the signing region: set TASKBEACON_REGION or AWS_REGION")


class Client:
    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: Resolver,
        *,
        timeout: float = 3.0,
        fetch: Optional[Callable[..., http.Response]] = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Optional[random.Random] = None,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("TASKBEACON_ENDPOINT must be an http(s) URL")
        self.url = endpoint.rstrip("/") + "/snapshots"
        self.region = region
        self.credentials = credentials
        self.timeout = timeout
        self._fetch = fetch or http.request
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not crypto)
        self._base = backoff_base
        self._cap = backoff_cap

    def _attempt(self, body: bytes, deadline: Optional[float]) -> http.Response:
        try:
            creds = self.credentials.get(timeout=min(self.timeout, 1.0), deadline=deadline)
        except CredentialsError as exc:
            raise SendError(str(exc), retryable=False) from None
        headers = sigv4.sign(
            "POST",
            self.url,
            [("Content-Type", "application/json"), ("User-Agent", "taskbeacon-agent/%s" % __version__)],
            body,
            credentials=creds,
            region=self.region,
        )
        return self._fetch(
            "POST",
            self.url,
            headers=dict(headers),
            body=body,
            timeout=self.timeout,
            deadline=deadline,
            max_bytes=256 * 1024,
            use_proxy=True,
            # A 2xx means the snapshot was stored: retrying because the answer was too big (or slow)
            # would post it twice.
            any_2xx_body=True,
        )

    def send(self, body: bytes, deadline: Optional[float], max_attempts: int = 8) -> Any:
        """Send one snapshot body. Returns the decoded 2xx answer (or None); raises SendError."""
        last = SendError("not attempted")
        refreshed = False
        for attempt in range(max_attempts):
            hint: Optional[float] = None
            try:
                resp = self._attempt(body, deadline)
            except http.DeadlineExceeded:
                raise SendError("time budget exhausted (%s)" % last) from None
            except http.HttpError as exc:
                last = SendError("API unreachable: %s" % exc)
            else:
                if resp.ok:
                    return _decode(resp.body)
                if resp.status == 403 and not refreshed:
                    # Possibly expired or rotated task-role credentials: refetch once, then believe it.
                    refreshed = True
                    self.credentials.invalidate()
                    last = SendError("API answered HTTP 403", status=403, retryable=False)
                    continue
                if resp.status != 429 and resp.status < 500:
                    raise SendError(
                        "API rejected the snapshot: HTTP %d %s" % (resp.status, _error_code(resp.body)),
                        status=resp.status,
                        retryable=False,
                    )
                last = SendError("API answered HTTP %d" % resp.status, status=resp.status)
                hint = retry.parse_retry_after(resp.headers.get("retry-after"))
            if attempt + 1 >= max_attempts:
                break
            delay = retry.backoff_delay(attempt, self._base, self._cap, self._rng)
            if hint is not None:
                delay = max(delay, hint)
            if not retry.sleep_within(delay, deadline, self._sleep):
                raise SendError("%s; giving up: next retry would pass the time budget" % last, last.status)
        raise last


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return None


def _error_code(body: bytes) -> str:
    # Only the server's error code/field, never its full text (it might echo input).
    try:
        err = json.loads(body.decode("utf-8")).get("error", {})
        return "%s%s" % (err.get("code", ""), " field=%s" % err["field"] if err.get("field") else "")
    except (UnicodeDecodeError, ValueError, AttributeError, TypeError):
        return ""
