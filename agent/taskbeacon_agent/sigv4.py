"""AWS Signature Version 4, standard library only.

Mirrors botocore's SigV4Auth byte for byte (tests prove it): same header blacklist, same
canonical URI (dot-segment removal, collapsed slashes, quote(safe='/~')), same query handling
(raw pairs from the URL, sorted), same whitespace folding of header values.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse

from taskbeacon_agent.credentials import Credentials

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Iterable, List, Optional, Tuple

    Headers = List[Tuple[str, str]]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNSIGNED = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def host_header(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = "%s:%d" % (host, parts.port)
    return host


def _remove_dot_segments(path: str) -> str:
    out: List[str] = []
    for seg in path.split("/"):
        if seg and seg != ".":
            if seg == "..":
                if out:
                    out.pop()
            else:
                out.append(seg)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_uri(path: str) -> str:
    return urllib.parse.quote(_remove_dot_segments(path) if path else "/", safe="/~")


def canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def _headers_to_sign(url: str, headers: Iterable[Tuple[str, str]]) -> Headers:
    out = [(name.lower(), value) for name, value in headers if name.lower() not in _UNSIGNED]
    if not any(name == "host" for name, _ in out):
        out.append(("host", host_header(url)))
    return out


def canonical_headers(signed: Headers) -> Tuple[str, str]:
    names = sorted({name for name, _ in signed})
    lines = []
    for name in names:
        value = ",".join(" ".join(v.split()) for n, v in signed if n == name)
        lines.append("%s:%s" % (name, value))
    return "\n".join(lines), ";".join(sorted(n.strip() for n in names))


def canonical_request(method: str, url: str, headers: Headers, body: bytes) -> Tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    signed = _headers_to_sign(url, headers)
    canon_headers, signed_names = canonical_headers(signed)
    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    for name, value in headers:
        if name.lower() == "x-amz-content-sha256":
            payload = value
    creq = "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query(parts.query),
            canon_headers + "\n",
            signed_names,
            payload,
        ]
    )
    return creq, signed_names


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def sign(
    method: str,
    url: str,
    headers: Iterable[Tuple[str, str]],
    body: Optional[bytes],
    *,
    credentials: Credentials,
    region: str,
    service: str = "execute-api",
    now: Optional[datetime.datetime] = None,
) -> Headers:
    """Return the full header list to send: the given headers plus X-Amz-Date, token and Authorization."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    headers = list(headers)
    has_date = any(n.lower() == "date" for n, _ in headers)
    drop = {"authorization", "x-amz-date", "date"}
    if credentials.token:
        drop.add("x-amz-security-token")
    out = [(n, v) for n, v in headers if n.lower() not in drop]
    # Like botocore: a caller-supplied Date header is refreshed and used instead of X-Amz-Date.
    if has_date:
        import calendar
        import email.utils  # only when the caller asks for a Date header (the agent never does)

        out.append(("Date", email.utils.formatdate(calendar.timegm(now.utctimetuple()))))
    else:
        out.append(("X-Amz-Date", stamp))
    if credentials.token:
        out.append(("X-Amz-Security-Token", credentials.token))
    creq, signed_names = canonical_request(method, url, out, body or b"")
    scope = "%s/%s/%s/aws4_request" % (stamp[:8], region, service)
    sts = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    key = signing_key(credentials.secret_key, stamp[:8], region, service)
    signature = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
    out.append(
        (
            "Authorization",
            "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s"
            % (ALGORITHM, credentials.access_key, scope, signed_names, signature),
        )
    )
    return out
