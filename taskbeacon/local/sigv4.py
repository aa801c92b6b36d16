"""SigV4 verification for the local gateway, built from botocore's own signer.

API Gateway checks the signature before any Lambda runs; local mode does the same, with the
signature recomputed over exactly the headers the client listed in ``SignedHeaders``.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from taskbeacon.local.principals import Principal, PrincipalRegistry

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_CLOCK_SKEW = timedelta(minutes=15)


class SignatureError(Exception):
    """The request is not signed, or not signed correctly: API Gateway answers 403.

    ``response_type`` is API Gateway's gateway-response type for it ($context.error.responseType).
    """

    def __init__(self, message: str, response_type: str = "INVALID_SIGNATURE") -> None:
        super().__init__(message)
        self.response_type = response_type


@dataclass(frozen=True)
class VerifiedRequest:
    principal: Principal
    region: str


def verify(
    registry: PrincipalRegistry,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime | None = None,
) -> VerifiedRequest:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization")
    if not authorization:
        raise SignatureError("Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN")
    match = _AUTHORIZATION.match(authorization.strip())
    if not match:
        raise SignatureError("Authorization header is not an AWS4-HMAC-SHA256 signature")
    if match["service"] != "execute-api":
        raise SignatureError(
            f"Credential should be scoped to correct service: 'execute-api', not {match['service']!r}"
        )
    principal = registry.get(match["key"])
    if principal is None:
        raise SignatureError("The security token included in the request is invalid.")
    amz_date = lowered.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise SignatureError("X-Amz-Date header is missing or malformed") from error
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("Signature expired: request time is more than 15 minutes from the server time")
    if not amz_date.startswith(match["date"]):
        raise SignatureError("Credential date does not match X-Amz-Date")
    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise SignatureError("the host header must be signed")
    if principal.session_token is not None and lowered.get("x-amz-security-token") != principal.session_token:
        raise SignatureError("The security token included in the request is invalid.")
    signed_headers = {name: lowered[name] for name in signed_names if name in lowered}
    if len(signed_headers) != len(signed_names):
        raise SignatureError("a header listed in SignedHeaders is missing")

    request = AWSRequest(method=method, url=url, data=body, headers=signed_headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(principal.access_key, principal.secret_key, principal.session_token),
        "execute-api",
        match["region"],
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return VerifiedRequest(principal=principal, region=match["region"])
