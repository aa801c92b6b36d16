"""The one HTTP seam of the CLI and the console: builds URLs, signs with SigV4 (``execute-api``),
retries, maps errors.

botocore is imported lazily (only when a request is signed) so ``taskbeacon --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import quote, urlencode, urlsplit

from taskbeacon import __version__
from taskbeacon.api.errors import ApiError, CliError, ConnectionFailed, CredentialsError, UsageError

if TYPE_CHECKING:
    from botocore.credentials import Credentials

SERVICE = "execute-api"
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 20.0  # never sleep longer than this on one Retry-After, whatever the server says
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

QueryValue = str | int | None


class Getter(Protocol):
    """What the CLI's commands and the console need of the API: one GET (``ApiClient``, or a test's fake)."""

    def get(self, path: str, params: Mapping[str, QueryValue] | None = None) -> Any: ...


@dataclass(frozen=True)
class StaticCredentials:
    """Explicit keys instead of botocore's chain (local mode hands the console its operator's keys)."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClientConfig:
    endpoint: str
    region: str | None = None
    profile: str | None = None
    timeout: float = 30.0
    retries: int = 2
    credentials: StaticCredentials | None = None


def segment(value: str) -> str:
    """Encode one path segment completely, so a task ARN (``:`` and ``/``) stays one segment."""
    return quote(value, safe="")


def query_string(params: Mapping[str, QueryValue]) -> str:
    """SigV4-canonical encoding (RFC 3986, sorted), so the string we send is the string we sign."""
    pairs = sorted((k, str(v)) for k, v in params.items() if v is not None)
    return urlencode(pairs, quote_via=quote, safe="-_.~")


def region_from_endpoint(endpoint: str) -> str | None:
    """``https://abc123.execute-api.eu-west-1.amazonaws.com/prod`` -> ``eu-west-1`` (also private APIs)."""
    host = urlsplit(endpoint).hostname or ""
    match = _EXECUTE_API_HOST.search(host)
    return match.group(1) if match else None


class ApiClient:
    """GETs JSON from the query API. Credentials and the signing region are resolved on first use."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        stderr: TextIO | None = None,
    ) -> None:
        parts = urlsplit(config.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"endpoint must be an http(s) URL, got {config.endpoint!r}")
        self._config = config
        self._base = config.endpoint.rstrip("/")
        self._sleep = sleep
        self._stderr = stderr
        self._signer: Any = None
        # Loopback (local mode) never goes through a proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if parts.hostname in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    def url(self, path: str, params: Mapping[str, QueryValue] | None = None) -> str:
        query = query_string(params or {})
        return f"{self._base}{path}" + (f"?{query}" if query else "")

    def get(self, path: str, params: Mapping[str, QueryValue] | None = None) -> Any:
        url = self.url(path, params)
        attempt = 0
        while True:
            status, headers, body = self._send(url)
            if 200 <= status < 300:
                return _json(body, status, path)
            if status in RETRY_STATUSES and attempt < self._config.retries:
                delay = retry_delay(headers.get("Retry-After"), attempt)
                self._note(f"HTTP {status}, retrying in {delay:g}s ({attempt + 1}/{self._config.retries})")
                self._sleep(delay)
                attempt += 1
                continue
            raise ApiError.from_body(status, _json_or_none(body), _reason(status, body))

    def check_credentials(self) -> None:
        """Resolve credentials and the signing region now: a clear error before serving, not on first use."""
        if self._signer is None:
            self._signer = self._build_signer()

    @property
    def endpoint(self) -> str:
        return self._base

    def _send(self, url: str) -> tuple[int, Message, bytes]:
        headers = self._sign(url)
        request = urllib.request.Request(url, headers=headers, method="GET")
        try:
            with self._opener.open(request, timeout=self._config.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:  # 4xx/5xx still carry the API's JSON error body
            try:
                return exc.code, exc.headers, exc.read()
            finally:
                exc.close()
        except TimeoutError as exc:
            raise ConnectionFailed(
                f"request to {self._base} timed out after {self._config.timeout:g}s"
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ConnectionFailed(f"connecting to {self._base} timed out") from exc
            raise ConnectionFailed(f"cannot connect to {self._base}: {exc.reason}") from exc
        except (OSError, HTTPException) as exc:
            raise ConnectionFailed(f"connection to {self._base} failed: {exc}") from exc

    def _sign(self, url: str) -> dict[str, str]:
        from botocore.awsrequest import AWSRequest

        if self._signer is None:
            self._signer = self._build_signer()
        request = AWSRequest(
            method="GET",
            url=url,
            headers={"Accept": "application/json", "User-Agent": f"taskbeacon-cli/{__version__}"},
        )
        self._signer.add_auth(request)  # re-signed per attempt: X-Amz-Date must be fresh on retries
        return dict(request.headers.items())

    def _build_signer(self) -> Any:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.exceptions import BotoCoreError

        try:
            session = botocore.session.Session(profile=self._config.profile)
            static = self._config.credentials
            credentials: Credentials | None = (
                _static(static.access_key, static.secret_key, static.token)
                if static is not None
                else session.get_credentials()
            )
            region = (
                self._config.region
                or region_from_endpoint(self._config.endpoint)
                or os.environ.get("AWS_REGION")
                or session.get_config_variable("region")
            )
        except BotoCoreError as exc:  # ProfileNotFound, broken config files, failing credential_process ...
            raise CredentialsError(f"cannot load AWS credentials: {exc}") from exc
        if credentials is None:
            raise CredentialsError(
                "no AWS credentials found: use --profile, the AWS_* environment variables, "
                "or `source .taskbeacon/local.env` for local mode"
            )
        if not region:
            raise UsageError("cannot tell the signing region: pass --region or set AWS_REGION")
        return SigV4Auth(credentials, SERVICE, region)

    def _note(self, message: str) -> None:
        print(f"taskbeacon: {message}", file=self._stderr or sys.stderr)


def _static(access_key: str, secret_key: str, token: str | None) -> Credentials:
    from botocore.credentials import Credentials

    return Credentials(access_key, secret_key, token)


def retry_delay(retry_after: str | None, attempt: int) -> float:
    """Honour ``Retry-After`` (seconds or HTTP date), capped; otherwise back off 0.5s, 1s, 2s ..."""
    fallback = 0.5 * 2**attempt
    if not retry_after:
        return fallback
    try:
        seconds = float(retry_after)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(retry_after).timestamp() - time.time()
        except (TypeError, ValueError):
            return fallback
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _json(body: bytes, status: int, path: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise CliError(f"HTTP {status} from {path}: the answer is not JSON") from exc


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _reason(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text[:200] if text else f"HTTP {status} with an empty body"
