"""The agent's only HTTP seam: explicit timeouts, a deadline, a response size cap, no redirects.

http.client is used instead of urllib so that connect and read timeouts are separate (probing an
absent link-local endpoint must be cheap) and so nothing is followed or buffered behind our back.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.parse

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Dict, List, Mapping, Optional, Tuple
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024


class HttpError(Exception):
    """A transport failure: connection refused/reset, timeout, oversized or truncated body."""


class DeadlineExceeded(HttpError):
    """The caller's time budget ran out before or during the call."""


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    return deadline - time.monotonic()


def _environment_proxies(environ: Mapping[str, str]) -> Dict[str, str]:
    """urllib.request.getproxies_environment(), the Linux getproxies(): `<scheme>_proxy` variables,
    lower-case names winning over upper-case, HTTP_PROXY ignored under CGI (CVE-2016-1000110).

    Copied rather than imported: urllib.request pulls in email, tempfile, shutil, bz2 and lzma,
    about 2 MiB of a sidecar's resident memory for two small functions.
    """
    proxies: Dict[str, str] = {}
    for name, value in environ.items():
        lower = name.lower()
        if value and lower[-6:] == "_proxy":
            proxies[lower[:-6]] = value
    if "REQUEST_METHOD" in environ:
        proxies.pop("http", None)
    for name, value in environ.items():  # second pass: lower-case names only, they win
        if name[-6:] == "_proxy":
            lower = name.lower()
            if value:
                proxies[lower[:-6]] = value
            else:
                proxies.pop(lower[:-6], None)
    return proxies


def _bypass(host: str, no_proxy: Optional[str]) -> bool:
    """urllib.request.proxy_bypass_environment() for a bare host name (no port)."""
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    for entry in no_proxy.split(","):
        name = entry.strip().lstrip(".").lower()
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _proxy_for(url: str, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    # Only the API call may use a proxy (corporate egress); link-local metadata never does.
    parts = urllib.parse.urlsplit(url)
    proxies = _environment_proxies(os.environ if environ is None else environ)
    if _bypass(parts.hostname or "", proxies.get("no")):
        return None
    return proxies.get(parts.scheme)


def _connection(url: str, timeout: float, use_proxy: bool) -> Tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError("unsupported URL scheme")
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    proxy = _proxy_for(url) if use_proxy else None
    https = parts.scheme == "https"
    if not proxy:
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        return cls(parts.hostname, parts.port, timeout=timeout), target
    pp = urllib.parse.urlsplit(proxy)
    if https:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            pp.hostname or "", pp.port or 80, timeout=timeout
        )
        conn.set_tunnel(parts.hostname, parts.port or 443)
        return conn, target
    return http.client.HTTPConnection(pp.hostname or "", pp.port or 80, timeout=timeout), url


def _read_capped(
    conn: http.client.HTTPConnection,
    resp: http.client.HTTPResponse,
    read_timeout: float,
    deadline: Optional[float],
    max_bytes: int,
) -> bytes:
    declared = resp.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HttpError("response too large")
    chunks: List[bytes] = []
    total = 0
    while True:
        left = remaining(deadline)
        if left is not None and left <= 0:
            raise DeadlineExceeded("time budget exhausted while reading")
        if conn.sock is not None and left is not None:
            conn.sock.settimeout(max(0.001, min(read_timeout, left)))
        chunk = resp.read1(_CHUNK)  # one recv at a time, so the deadline is checked between them
        if not chunk:
            # read1 reports a connection closed before Content-Length bytes as a plain EOF.
            if declared is not None and declared.isdigit() and total < int(declared):
                raise HttpError("truncated body")
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise HttpError("response too large")
        chunks.append(chunk)


def request(
    method: str,
    url: str,
    *,
    headers: Optional[Mapping[str, str]] = None,
    body: Optional[bytes] = None,
    timeout: float = 2.0,
    connect_timeout: Optional[float] = None,
    deadline: Optional[float] = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    use_proxy: bool = False,
    any_2xx_body: bool = False,
) -> Response:
    """Perform one HTTP request. Never raises for an HTTP status; raises HttpError for transport trouble.

    `any_2xx_body`: once the status line says 2xx, a body that is too large, slow or cut short does
    not matter (the request succeeded): the Response then has an empty body instead of an error.
    """
    left = remaining(deadline)
    if left is not None and left <= 0:
        raise DeadlineExceeded("time budget exhausted")
    read_timeout = timeout if left is None else max(0.001, min(timeout, left))
    conn_timeout = read_timeout if connect_timeout is None else min(connect_timeout, read_timeout)
    conn, target = _connection(url, conn_timeout, use_proxy)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(read_timeout)
        conn.request(method, target, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        try:
            data = _read_capped(conn, resp, read_timeout, deadline, max_bytes)
        except (OSError, http.client.HTTPException, ValueError, HttpError):
            if not (any_2xx_body and 200 <= resp.status < 300):
                raise
            data = b""
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except HttpError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # The message names only the failure class: URLs may carry secrets (credentials URI).
        if isinstance(exc, (socket.timeout, TimeoutError)):
            raise HttpError("timed out") from None
        raise HttpError(type(exc).__name__) from None
    finally:
        conn.close()
