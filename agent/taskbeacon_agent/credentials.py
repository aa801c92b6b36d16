"""AWS credentials for signing: env vars or the ECS container credentials endpoint. Never IMDS.

Nothing here ever puts a credential, the credentials URI or the authorization token into an
exception message or log line.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse

from taskbeacon_agent import http

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds and memory at run time; annotations are strings
    from typing import Any, Callable, Mapping, Optional

ECS_CREDENTIALS_HOST = "http://169.254.170.2"
# Same allow-list as botocore's ContainerMetadataFetcher: plain http only to these or loopback.
_ALLOWED_HTTP_HOSTS = ("169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost")
NO_IMDS_ADVICE = (
    "taskbeacon-agent does not use the EC2 instance role (IMDS): AWS advises that applications in "
    "containers must not use the instance's credentials. Give the task a task role "
    "(taskRoleArn), or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
)


class CredentialsError(Exception):
    pass


class Credentials:
    __slots__ = ("access_key", "expiration", "secret_key", "token")

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        token: Optional[str] = None,
        expiration: Optional[datetime.datetime] = None,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token
        self.expiration = expiration

    def __repr__(self) -> str:  # never print secrets, even by accident
        return "Credentials(access_key=<redacted>)"

    def expires_within(self, seconds: float) -> bool:
        if self.expiration is None:
            return False
        now = datetime.datetime.now(datetime.timezone.utc)
        return (self.expiration - now).total_seconds() < seconds


def _parse_expiration(value: Any) -> Optional[datetime.datetime]:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # fromisoformat on 3.9 cannot parse >6 fraction digits
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        rest = tail[len(digits) :]
        text = head + "." + digits[:6].ljust(6, "0") + rest
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _allowed_full_uri(uri: str) -> bool:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host in _ALLOWED_HTTP_HOSTS:
        return True
    import ipaddress  # only for a FULL_URI to an unlisted http host

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _auth_token(env: Mapping[str, str]) -> Optional[str]:
    path = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    token: Optional[str]
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError:
            raise CredentialsError("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") from None
    else:
        token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None
    if token is not None and ("\r" in token or "\n" in token):
        raise CredentialsError("container authorization token contains a line break")
    return token


def from_env(env: Mapping[str, str]) -> Optional[Credentials]:
    key = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, env.get("AWS_SESSION_TOKEN") or None)
    return None


def from_container(
    env: Mapping[str, str],
    timeout: float = 1.0,
    deadline: Optional[float] = None,
    fetch: Optional[Callable[..., http.Response]] = None,
) -> Optional[Credentials]:
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    headers = {"Accept": "application/json"}
    if relative:
        url = ECS_CREDENTIALS_HOST + relative
    elif full:
        if not _allowed_full_uri(full):
            raise CredentialsError(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a loopback or ECS/EKS host"
            )
        url = full
        token = _auth_token(env)
        if token:
            headers["Authorization"] = token
    else:
        return None
    fetch = fetch or http.request
    try:
        resp = fetch("GET", url, headers=headers, timeout=timeout, deadline=deadline, max_bytes=64 * 1024)
    except http.HttpError as exc:
        raise CredentialsError("container credentials endpoint unreachable (%s)" % exc) from None
    if not resp.ok:
        raise CredentialsError("container credentials endpoint answered HTTP %d" % resp.status)
    try:
        doc = json.loads(resp.body.decode("utf-8"))
        return Credentials(
            str(doc["AccessKeyId"]),
            str(doc["SecretAccessKey"]),
            str(doc["Token"]) if doc.get("Token") else None,
            _parse_expiration(doc.get("Expiration")),
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise CredentialsError("container credentials endpoint returned an unexpected document") from None


class Resolver:
    """Resolves once and caches until shortly before expiry (sidecars run for days)."""

    def __init__(self, env: Mapping[str, str], fetch: Optional[Callable[..., http.Response]] = None) -> None:
        self._env = env
        self._fetch = fetch
        self._cached: Optional[Credentials] = None

    def get(self, timeout: float = 1.0, deadline: Optional[float] = None) -> Credentials:
        if self._cached is not None and not self._cached.expires_within(300):
            return self._cached
        creds = from_env(self._env) or from_container(self._env, timeout, deadline, self._fetch)
        if creds is None:
            raise CredentialsError("no AWS credentials found. " + NO_IMDS_ADVICE)
        self._cached = creds
        return creds

    def invalidate(self) -> None:
        self._cached = None
